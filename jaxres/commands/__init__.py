"""The commands behind `jaxres.cli`; each takes (task, parsed arguments) and returns an exit code."""

from __future__ import annotations

import argparse

from jaxres.task import Task
from jaxres.train.cache import enable_compilation_cache


def run(task: Task, args: argparse.Namespace) -> int:
    if args.command == "config":
        from jaxres.commands.config_keys import config_command

        return config_command(task, args)
    enable_compilation_cache()
    if args.command == "train":
        from jaxres.commands.train import train

        return train(task, args)
    if args.command == "eval":
        from jaxres.commands.evaluate import evaluate_command

        return evaluate_command(task, args)
    if args.command == "predict":
        from jaxres.commands.predict import predict

        return predict(task, args)
    if args.command == "cache":
        from jaxres.commands.cache import cache_command

        return cache_command(task, args)
    from jaxres.commands.export import export_command

    return export_command(task, args)
