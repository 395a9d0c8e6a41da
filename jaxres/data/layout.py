"""Finding a data set's files inside the folder a user points at."""

from __future__ import annotations

import pathlib
from typing import Sequence


def first_existing(root: pathlib.Path, names: Sequence[str]) -> pathlib.Path | None:
    """The first of `names` that exists under `root`, or None."""
    for name in names:
        candidate = root / name
        if candidate.exists():
            return candidate
    return None
