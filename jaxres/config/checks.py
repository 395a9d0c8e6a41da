"""The type and range of every numeric setting (`RANGES`), checked before data, model or workdir are touched."""

from __future__ import annotations

import math
from typing import Any

from jaxres.config import get_path
from jaxres.errors import ConfigError

INF = math.inf
# key -> (kind, low, high, None allowed). `*` matches one key level (e.g. each augment option).
RANGES: dict[str, tuple[str, float, float, bool]] = {
    "train.epochs": ("int", 1, 1_000_000, False),
    "train.batch_size": ("int", 1, 1_000_000, False),
    "train.seed": ("int", 0, 2**32 - 1, False),
    "train.log_every": ("int", 1, INF, False),
    "data.workers": ("int", 1, 1024, True),
    "data.val_fraction": ("float", 0.0, 0.9, False),
    "objective.image_size": ("int", 16, 4096, False),
    "objective.margin": ("float", 0.0, 10.0, False),
    "objective.resize_ratio": ("float", 0.01, 1.0, False),
    "objective.label_smoothing": ("float", 0.0, 0.99, False),
    "objective.augment.rotate": ("float", 0.0, 180.0, True),
    "objective.augment.scale": ("float", 0.0, 0.99, True),
    "objective.augment.translate": ("float", 0.0, 1.0, True),
    "objective.augment.flip_prob": ("float", 0.0, 1.0, True),
    "objective.augment.jitter": ("float", 0.0, 1.0, True),
    "optim.lr": ("float", 0.0, 100.0, False),
    "optim.momentum": ("float", 0.0, 0.999999, True),
    "optim.weight_decay": ("float", 0.0, 1.0, True),
    "optim.clip_norm": ("float", 0.0, INF, True),
    "optim.ema_epochs": ("float", 0.0, 1_000_000, False),
    "optim.warmup_epochs": ("float", 0.0, 1_000_000, False),
    "optim.restart_epochs": ("int", 1, 1_000_000, True),
    "optim.group_lr.*": ("float", 0.0, 100.0, False),
    "optim.unfreeze.*": ("int", 0, 1_000_000, False),
    "checkpoint.keep": ("int", 1, 1000, False),
    "checkpoint.every_steps": ("int", 0, INF, False),
    "model.head_options.dropout": ("float", 0.0, 0.99, True),
    "model.drop_path": ("float", 0.0, 0.99, False),
    "model.head_options.hidden": ("int", 1, 1_000_000, True),
}
# key -> the values it takes (a range would let through values between them).
CHOICES: dict[str, tuple] = {
    "objective.channels": (1, 3),  # gray or RGB: the frame cache and the stem know no other
}
# What every command needs; a --config file or a workdir's config.json without them is refused here.
REQUIRED = ("model.arch", "objective.kind", "objective.image_size", "data", "checkpoint", "train.epochs",
            "train.batch_size", "train.seed", "optim.lr")
# What eval, predict and export read from a workdir's config.json.
WORKDIR_REQUIRED = ("model.arch", "objective.kind", "objective.image_size", "checkpoint")
_MISSING = object()


def check_config(config: Any, where: str | None = None, required=REQUIRED) -> dict:
    """Return `config` unchanged, or raise a ConfigError for the first key out of type or range."""
    if not isinstance(config, dict):
        raise ConfigError(f"a config must be a dict of sections, got {type(config).__name__}", where=where)
    for key in required:
        if get_path(config, key, _MISSING) is _MISSING:
            raise ConfigError(f"config key {key!r} is missing; start from the task's configs/<task>.py", where=where)
    for pattern, rule in RANGES.items():
        for key, value in _matches(config, pattern.split("."), ()):
            _check(key, value, rule, where)
    for key, allowed in CHOICES.items():
        value = get_path(config, key, _MISSING)
        if value is not _MISSING and (isinstance(value, bool) or value not in allowed):
            raise ConfigError(f"config key {key!r} is {value!r}; it takes one of {', '.join(map(str, allowed))}",
                              where=where)
    return config


def check_best_metric(config: dict, metrics: set[str]) -> None:
    """`checkpoint.best_metric`: None or a metric the run computes (a typo would keep an arbitrary "best")."""
    name = get_path(config, "checkpoint.best_metric")
    if name is not None and name not in metrics:
        raise ConfigError(f"config key 'checkpoint.best_metric' is {name!r}; this run computes "
                          f"{', '.join(sorted(metrics))} (or None: the last step)")


def check_process(num_processes, process_id) -> None:
    """--num-processes and --process-id: a count of at least 1 and an id below it."""
    if num_processes is not None and num_processes < 1:
        raise ConfigError(f"--num-processes must be at least 1, got {num_processes}")
    if process_id is not None and not 0 <= process_id < (num_processes or 1):
        raise ConfigError(f"--process-id must be in [0, {(num_processes or 1) - 1}], got {process_id}")


def _matches(node, parts, prefix):
    if not parts:
        yield ".".join(prefix), node
        return
    if not isinstance(node, dict):
        return
    keys = node if parts[0] == "*" else [parts[0]] if parts[0] in node else []
    for key in keys:
        yield from _matches(node[key], parts[1:], (*prefix, str(key)))


def _check(key: str, value, rule, where: str) -> None:
    kind, low, high, none_ok = rule
    if value is None and none_ok:
        return
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric or (kind == "int" and not float(value).is_integer()):
        raise ConfigError(f"config key {key!r} takes {'an int' if kind == 'int' else 'a number'}, got {value!r}",
                          where=where)
    if not math.isfinite(value) or not low <= value <= high:
        shown = f"[{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise ConfigError(f"config key {key!r} is {value!r}; it must be in {shown}", where=where)
