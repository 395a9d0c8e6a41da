"""What a task declares to plug into the shared command line: its config, data and synthetic set.

Everything else (model, loss, metrics, pictures, predictions) follows from the config's `model` and
`objective` sections, so a task module is a few declarations, not a training script.
"""

from __future__ import annotations

import dataclasses
import pathlib
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
