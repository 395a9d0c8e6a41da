"""The `jaxres <task> [command] ...` console command, for the built-in tasks and those registered under
the entry-point group `jaxres.tasks`; applies the process start policy before numpy or JAX load."""

from __future__ import annotations

import importlib
import importlib.metadata
import sys

from jaxres import platform
from jaxres.cli import COMMANDS, command_of
from jaxres.cli.entry import main as run
from jaxres.cli.entry import quiet_broken_pipe, version
from jaxres.errors import UserError

BUILTIN = ("face", "tshirt", "bbox", "signs", "sketch")
ENTRY_POINTS = "jaxres.tasks"


def task_names() -> list[str]:
    extra = [ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINTS) if ep.name not in BUILTIN]
    return list(BUILTIN) + sorted(extra)


def load_task(name: str):
    """The `Task` called `name`: built in (`jaxres.tasks`, else a checkout's `tasks`) or another distribution's."""
    if name in BUILTIN:
        for module in (f"jaxres.tasks.{name}", f"tasks.{name}"):
            try:
                return importlib.import_module(module).TASK
            except ModuleNotFoundError as err:
                if err.name not in (module, module.rpartition(".")[0]):
                    raise  # the task module exists but something it imports is missing
    for entry in importlib.metadata.entry_points(group=ENTRY_POINTS):
        if entry.name == name:
            return entry.load()
    raise UserError(f"unknown task {name!r}; tasks: {', '.join(task_names())}")


def usage() -> str:
    return (f"usage: jaxres TASK [{'|'.join(COMMANDS)}] [options]\n\n"
            f"tasks: {', '.join(task_names())}\n"
            "`jaxres TASK --help` shows the task's data layouts, options and examples;\n"
            "`jaxres TASK config` every config key with its default and type.\n\n"
            "examples:\n  jaxres face\n  jaxres face train --data DATA --workdir runs/face\n"
            "  jaxres face export --workdir runs/face --format onnx --out face.onnx")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        try:
            print(usage(), flush=True)
        except BrokenPipeError:
            return quiet_broken_pipe()
        return 0 if argv else 2
    if argv[0] == "--version":
        print(version())
        return 0
    name, rest = argv[0], argv[1:]
    platform.prepare_process(command_of(rest))  # before the task module brings numpy
    try:
        task = load_task(name)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return run(task, rest, prog=f"jaxres {name}")
