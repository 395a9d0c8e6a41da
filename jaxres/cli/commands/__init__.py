"""The commands behind `jaxres.cli.entry`; each takes (task, parsed arguments) and returns an exit code."""

from __future__ import annotations

import argparse

from jaxres.config.task import Task
from jaxres.train.cache import enable_compilation_cache


def run(task: Task, args: argparse.Namespace) -> int:
    if args.command == "config":
        from jaxres.cli.commands.config_keys import config_command

        return config_command(task, args)
    enable_compilation_cache()
    if args.command == "train":
        from jaxres.cli.commands.train import train

        return train(task, args)
    if args.command == "eval":
        from jaxres.cli.commands.evaluate import evaluate_command

        return evaluate_command(task, args)
    if args.command == "predict":
        from jaxres.cli.commands.predict import predict

        return predict(task, args)
    if args.command == "cache":
        from jaxres.cli.commands.cache import cache_command

        return cache_command(task, args)
    from jaxres.cli.commands.export import export_command

    return export_command(task, args)
