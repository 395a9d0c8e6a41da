"""The commands behind `jaxres.cli.entry`; each takes (task, parsed arguments) and returns an exit code."""

from __future__ import annotations

import argparse

from jaxres import objectives  # noqa: F401 - objectives registers its kinds' defaults
from jaxres.cli.commands import cache, evaluate, export, predict, train
from jaxres.config import apply_overrides, defaults, key_table, load_config_file
from jaxres.config.task import Task
from jaxres.train.cache import enable_compilation_cache

RUN = {"train": train.train, "eval": evaluate.evaluate_command, "predict": predict.predict,
       "export": export.export_command, "cache": cache.cache_command}


def run(task: Task, args: argparse.Namespace) -> int:
    if args.command == "config":  # lists keys: compiles nothing
        return config_command(task, args)
    enable_compilation_cache()
    return RUN[args.command](task, args)


def config_command(task: Task, args: argparse.Namespace) -> int:
    """`config`: every key `--set` accepts, with its value and type after --config and --set."""
    config = defaults.complete(load_config_file(args.config) if args.config else task.get_config())
    config = apply_overrides(config, list(args.set))
    print(f"config keys of {task.name} (--set KEY=VALUE; the embedded demo run's own values are under synthetic.):")
    print(key_table(config), flush=True)
    return 0
