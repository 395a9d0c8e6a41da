"""The one record type every reader returns, so the pipeline and the tasks never care about formats."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np


@dataclasses.dataclass(frozen=True)
class Record:
    """One training example, with its targets in original-image pixels.

    image:     absolute path of an image file, or an (H, W, C) uint8 array (HDF5 sets).
    source:    where it came from, "file:row" / "file:line", used in every error message.
    keypoints: (K, 2) float32 (x, y) pixels, or None. A point the annotation leaves unlabelled (COCO
               visibility 0, flagged in meta["visibility"]) is NaN: masked in the loss and metrics.
    box:       (4,) float32 corners (x0, y0, x1, y1) pixels, or None. For faces: the face box used for
               cropping; for box regression: the target.
    label:     class index, or None.
    meta:      anything else a task may show or group by ({"subset": "common", "id": "..."}).
    """

    image: str | np.ndarray
    source: str
    keypoints: np.ndarray | None = None
    box: np.ndarray | None = None
    label: int | None = None
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A list of records plus what the whole set shares."""

    records: list[Record]
    classes: tuple[str, ...] | None = None  # class names in label order (classification sets)
    source: str = ""  # the file or folder it was read from

    def __len__(self) -> int:
        return len(self.records)
