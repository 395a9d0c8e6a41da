"""The command line every task shares: `python -m tasks.<task> [train|eval|predict|export] ...`, and what its
`--help` teaches: the data layouts (the task module's docstring), defaults, examples, the `--config.key` alias.

Exit status: 0 success; 2 bad usage or bad data, with one line on stderr naming the file and row or
key (a traceback only with --debug); 1 anything else."""

from __future__ import annotations

import argparse
import errno
import importlib.metadata
import os
import sys
import traceback
from typing import TYPE_CHECKING

from jaxres import __version__
from jaxres.cli import COMMANDS, command_of
from jaxres.config import get_path, synthetic_overrides
from jaxres.errors import UserError

if TYPE_CHECKING:  # numpy-free: the `jaxres` command imports this before the process start policy runs
    from jaxres.config.task import Task

# Writes that fail for the user's disk, not for a bug: wherever they happen (a checkpoint, metrics.jsonl,
# a picture, an export), they end as one line naming the file, exit status 2.
_DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied"}

EXPORT_FORMATS = ("stablehlo", "torchvision", "safetensors", "onnx")
CONFIG_ALIAS = "--config."


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message):
        raise UserError(f"{message} (see --help)")


def build_parser(task: Task, prog: str | None = None) -> argparse.ArgumentParser:
    prog = prog or f"python -m tasks.{task.name}"
    doc, version_line = task_doc(task), version()
    parser = _Parser(prog=prog, description=doc, formatter_class=Formatter,
                     epilog=examples(prog, task.name) + f"\n\nwithout a command, {prog} runs train.")
    config = task.get_config()
    weights = weights_example(config)
    parser.add_argument("--version", action="version", version=version_line)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="{" + ",".join(COMMANDS) + "}")

    def add(name: str, summary: str, epilog: str = ""):
        p = sub.add_parser(name, help=summary, description=f"{summary}\n\n{doc}", formatter_class=Formatter,
                           epilog="\n\n".join(filter(None, [epilog, examples(prog, task.name, name, weights)])))
        p.add_argument("--version", action="version", version=version_line)
        return p

    train = add("train", "train (resumes a checkpoint in --workdir), then evaluate", config_help(config))
    _training_options(train, task, config)

    evaluate = add("eval", "evaluate the best checkpoint; metrics as JSON on the last line")
    predict = add("predict", "predict on images (or an annotation file); CSV + overlay PNGs")
    export = add("export", "export the best checkpoint (onnx needs the onnx extra)")
    for p in (evaluate, predict, export):
        p.add_argument("--workdir", required=True, help="a trained workdir")
    evaluate.add_argument("--data", help="a data set in a layout above (default: the one the workdir was trained on)")
    evaluate.add_argument("--split", help="the split to evaluate, e.g. val or test (default: the config's "
                                          "data.eval_split, val when the data has no such split)")

    predict.add_argument("--out", required=True, help="folder for the predictions CSV and one overlay PNG per image")
    predict.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="image files, folders of images, or an annotation file in a layout above")

    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--out", required=True, help="the file to write (e.g. face.onnx, face.pth)")

    cache = add("cache", "decode every split into the frame cache ahead of train (same options as train)")
    _training_options(cache, task, config)

    keys = add("config", "print every config key with its default and type (after --config and --set)")
    keys.add_argument("--config", help="a Python file with get_config() replacing the task's defaults")
    keys.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")

    for p in (train, evaluate, predict, export, cache, keys):
        p.add_argument("--debug", action="store_true", help="show tracebacks")
    for p in (train, predict, export):
        p.add_argument("--force", action="store_true", help="replace earlier outputs (see README, Exit status)")
    for p in (evaluate, predict, export):
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="objective.flip_test=true: average with the mirror's prediction")
    return parser


def _training_options(parser: argparse.ArgumentParser, task: Task, config: dict) -> None:
    """The options of `train`, which `cache` takes too (it prepares what that train will read)."""
    parser.add_argument("--data", help="the data set in a layout above (default: the embedded synthetic set)")
    parser.add_argument("--workdir", default=f"runs/{task.name}", help="checkpoints, metrics, curves, pictures, TensorBoard")
    parser.add_argument("--config", help="a Python file with get_config() replacing the task's defaults")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (repeatable; alias --config.KEY=VALUE)")
    parser.add_argument("--weights", help=f"imagenet (torchvision V1) | imagenet_v2 | hf-hub:timm/NAME | none | PATH to a "
                                         f".pth/.safetensors/.npz state dict ({default_of(config, 'model.weights')})")
    parser.add_argument("--epochs", type=int, help=default_of(config, "train.epochs"))
    parser.add_argument("--batch-size", type=int, help=default_of(config, "train.batch_size"))
    parser.add_argument("--seed", type=int, help=default_of(config, "train.seed"))
    parser.add_argument("--skip-bad", action="store_true", help="drop unusable records (listed) instead of failing")
    parser.add_argument("--coordinator", help="multi-host: host:port of process 0 (automatic on TPU/SLURM/MPI)")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)


def parse(task: Task, argv: list[str], prog: str | None = None) -> argparse.Namespace:
    argv = expand_config_alias(list(argv))
    if command_of(argv) == "train" and argv[:1] != ["train"]:
        argv.insert(0, "train")
    return build_parser(task, prog).parse_args(argv)


def main(task: Task, argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run one command line; `prog` is how the user called it (`jaxres face` for the console command)."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = parse(task, argv, prog)
        from jaxres.cli.commands import run  # not at the top: --help and usage errors answer without JAX

        return run(task, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return quiet_broken_pipe()
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line
        if debug:
            traceback.print_exc()
        if isinstance(err, OSError) and err.errno in _DISK_ERRORS:
            err = UserError(f"{_DISK_ERRORS[err.errno]}; free space or choose a writable folder, then run the same "
                            "command again (train resumes from its last checkpoint)", where=err.filename or "a file")
        if isinstance(err, UserError):
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"internal error: {type(err).__name__}: {err} (run with --debug for the traceback)", file=sys.stderr)
        return 1


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written (laid out by hand); every option with a default shows it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def version() -> str:
    try:
        return f"jaxres {importlib.metadata.version('jaxres')}"
    except importlib.metadata.PackageNotFoundError:
        return f"jaxres {__version__} (not installed)"


def task_doc(task) -> str:
    """The task module's docstring: its summary and its accepted data layouts."""
    module = sys.modules.get(getattr(task.read, "__module__", ""), None)
    return (getattr(module, "__doc__", None) or task.description or task.name).strip()


def weights_example(config: dict) -> str:
    """A `--weights` choice worth showing for this task: ImageNet where the task starts from
    scratch, none where it starts from ImageNet (valid for every architecture, unlike imagenet_v2)."""
    default = str((config.get("model") or {}).get("weights", "none")).lower()
    return "none" if default.startswith("imagenet") else "imagenet"


def examples(prog: str, task_name: str, command: str | None = None, weights: str = "imagenet") -> str:
    """Two or three commands for the top-level help (`command` None) or one subcommand (`weights`: train's)."""
    run = f"runs/{task_name}"
    lines = {
        None: [f"{prog}    # the embedded synthetic set, a few CPU minutes",
               f"{prog} --data DATA --workdir {run} --config.optim.lr=3e-4",
               f"{prog} export --workdir {run} --format onnx --out {task_name}.onnx",
               "tensorboard --logdir runs/    # the curves of every run"],
        "train": [f"{prog} train --data DATA --workdir {run} --epochs 30",
                  f"{prog} train --data DATA --set optim.lr=3e-4 --weights {weights}",
                  f"{prog} train --workdir {run}    # resumes the checkpoint there"],
        "eval": [f"{prog} eval --workdir {run}",
                 f"{prog} eval --workdir {run} --data DATA --split val"],
        "predict": [f"{prog} predict --workdir {run} --out preds image1.jpg image2.jpg",
                    f"{prog} predict --workdir {run} --out preds FOLDER"],
        "export": [f"{prog} export --workdir {run} --format onnx --out {task_name}.onnx",
                   f"{prog} export --workdir {run} --format torchvision --out {task_name}.pth",
                   f"{prog} export --workdir {run} --format stablehlo --out {task_name}.stablehlo"],
        "config": [f"{prog} config    # every key, its default and type",
                   f"{prog} config --set optim.name=adam    # after overrides"],
        "cache": [f"{prog} cache --data DATA    # decode every split once, e.g. on a login node",
                  f"{prog} cache --data DATA --set data.cache_dir=/scratch/frames --set objective.image_size=320"],
    }[command]
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def config_help(config: dict) -> str:
    """The train subcommand's note on config keys: every section, and the two override spellings."""
    sections = ", ".join(sorted(k for k, v in config.items() if isinstance(v, dict)))
    return ("config: any key of the task's get_config() can be overridden with --set key=value\n"
            "  or --config.key=value (as flax and big_vision spell it), e.g. --set optim.lr=3e-4\n"
            f"  --config.train.epochs=5. Sections: {sections}.\n"
            "  A run starts by printing the keys that differ from the task's defaults;\n"
            "  the config command lists every key with its default and type.")


def default_of(config: dict, key: str) -> str:
    """'default: V' for a dotted config key, with the embedded synthetic set's value when it differs."""
    value = get_path(config, key)
    synthetic = synthetic_overrides(config)
    extra = f"; embedded set: {synthetic[key]}" if key in synthetic and synthetic[key] != value else ""
    return f"default: {value}{extra}"


def expand_config_alias(argv: list[str]) -> list[str]:
    """`--config.a.b=v` and `--config.a.b v` become `--set a.b=v`; `--config FILE` is left alone."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith(CONFIG_ALIAS):
            key, sep, value = arg[len(CONFIG_ALIAS):].partition("=")
            if not sep and i + 1 < len(argv):
                value, i = argv[i + 1], i + 1
            out += ["--set", f"{key}={value}"]
        else:
            out.append(arg)
        i += 1
    return out


def quiet_broken_pipe() -> int:
    """The reader of stdout went away (`jaxres face --help | head`): point stdout at the null device, so
    Python's exit flush succeeds, and return exit status 1."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    os.close(null)
    return 1
