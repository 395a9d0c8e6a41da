"""What `--help` teaches: the data layouts (the task module's docstring), defaults, examples, and the
`--config.key` alias."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys

from jaxres import __version__
from jaxres.config import get_path, synthetic_overrides

CONFIG_ALIAS = "--config."


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
    """Two or three commands for the top-level help (`command` None) or for one subcommand;
    `weights`: the --weights of the train example (`weights_example`)."""
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
