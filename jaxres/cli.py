"""The command line every task shares: `python -m tasks.<task> [train|eval|predict|export] ...`.

Exit status: 0 success; 2 bad usage or bad data, with one line on stderr naming the file and row or
key (a traceback only with --debug); 1 anything else.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import TYPE_CHECKING

from jaxres.errors import UserError

if TYPE_CHECKING:  # the module stays free of numpy: `tasks` reads `command_of` before numpy starts
    from jaxres.task import Task

COMMANDS = ("train", "eval", "predict", "export", "cache")
EXPORT_FORMATS = ("stablehlo", "torchvision", "safetensors")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message):
        raise UserError(f"{message} (see --help)")


def build_parser(task: Task) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"python -m tasks.{task.name}", description=task.description)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    train = sub.add_parser("train", help="train (resumes a checkpoint in --workdir), then evaluate")
    _training_options(train, task)

    evaluate = sub.add_parser("eval", help="evaluate the best checkpoint; metrics as JSON on the last line")
    evaluate.add_argument("--workdir", required=True)
    evaluate.add_argument("--data")
    evaluate.add_argument("--split")

    predict = sub.add_parser("predict", help="predict on images (or an annotation file); CSV + overlay PNGs")
    predict.add_argument("--workdir", required=True)
    predict.add_argument("--out", required=True)
    predict.add_argument("inputs", nargs="+", metavar="INPUT")

    export = sub.add_parser("export", help="export the best checkpoint")
    export.add_argument("--workdir", required=True)
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--out", required=True)

    cache = sub.add_parser("cache", help="decode every split into the frame cache ahead of train: "
                                         "the same options as the train command it prepares")
    _training_options(cache, task)

    for p in (train, evaluate, predict, export, cache):
        p.add_argument("--debug", action="store_true", help="show tracebacks")
    for p in (train, predict, export):
        p.add_argument("--force", action="store_true", help="replace earlier outputs (see README, Exit status)")
    return parser


def _training_options(parser: argparse.ArgumentParser, task: Task) -> None:
    parser.add_argument("--data", help="the data set in its usual layout (default: the embedded synthetic set)")
    parser.add_argument("--workdir", default=f"runs/{task.name}")
    parser.add_argument("--config", help="a Python file with get_config() replacing the task's defaults")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--weights", help="imagenet | none | PATH to a .pth/.safetensors/.npz state dict")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--skip-bad", action="store_true", help="drop unusable records (listed) instead of failing")
    parser.add_argument("--coordinator", help="multi-host: host:port of process 0 (automatic on TPU/SLURM/MPI)")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)



def command_of(argv: list[str]) -> str | None:
    """The command these arguments run: the first word when it is one, else `train` (`python -m
    tasks.face` trains); None for --help."""
    if argv and argv[0] in ("-h", "--help"):
        return None
    return argv[0] if argv and argv[0] in COMMANDS else "train"


def parse(task: Task, argv: list[str]) -> argparse.Namespace:
    argv = list(argv)
    if command_of(argv) == "train" and argv[:1] != ["train"]:
        argv.insert(0, "train")
    return build_parser(task).parse_args(argv)


def main(task: Task, argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = parse(task, argv)
        # imported late: `--help` and usage errors stay instant
        from jaxres.commands import run

        return run(task, args)
    except UserError as err:
        if debug:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line, status 1
        if debug:
            traceback.print_exc()
        print(f"internal error: {type(err).__name__}: {err} (run with --debug for the traceback)", file=sys.stderr)
        return 1
