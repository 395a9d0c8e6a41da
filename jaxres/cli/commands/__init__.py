"""The commands behind `jaxres.cli.entry`; each takes (task, parsed arguments) and returns an exit code."""

from __future__ import annotations

import argparse

from jaxres.cli.commands import cache, config_keys, evaluate, export, predict, train
from jaxres.config.task import Task
from jaxres.train.cache import enable_compilation_cache

RUN = {"train": train.train, "eval": evaluate.evaluate_command, "predict": predict.predict,
       "export": export.export_command, "cache": cache.cache_command}


def run(task: Task, args: argparse.Namespace) -> int:
    if args.command == "config":  # lists keys: compiles nothing
        return config_keys.config_command(task, args)
    enable_compilation_cache()
    return RUN[args.command](task, args)
