"""What a task declares to plug into the shared command line: its config, data reader and synthetic set;
model, loss and metrics follow from the config."""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
import types
from typing import Callable

from jaxres.data.records import Dataset

# read(path, split, config) -> Dataset, or None when the layout has no such split.
Reader = Callable[[pathlib.Path, str, dict], "Dataset | None"]
# synthesize(root, config) -> the path to pass to `read`, written in the task's real on-disk format.
Synthesizer = Callable[[pathlib.Path, dict], pathlib.Path]


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    get_config: Callable[[], dict]
    read: Reader
    synthesize: Synthesizer
    description: str = ""


def task_config(package: str | None, name: str) -> types.ModuleType:
    """The config module `configs.<name>` beside the caller's `tasks` package (`jaxres.configs` when
    installed, so site-packages holds no generic `configs`)."""
    root = (package or "").rpartition(".")[0]
    return importlib.import_module(f"{root}.configs.{name}" if root else f"configs.{name}")
