"""TensorBoard event files (tensorboardX) from the same records as metrics.jsonl: `train/…`,
`lr/<group>`, `val/<metric>`, `pictures/<name>`."""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Any, Iterable

import numpy as np
from PIL import Image

# tensorboardX imports torch, where it is installed, only to accept torch tensors, which jaxres never
# passes; that import would add 2-4 s of CPU to every command's start, so it is refused while
# tensorboardX loads (and allowed again after).
_TORCH_HIDDEN = "torch" not in sys.modules
if _TORCH_HIDDEN:
    sys.modules["torch"] = None  # type: ignore[assignment]
try:
    from tensorboardX import SummaryWriter
finally:
    if _TORCH_HIDDEN:
        del sys.modules["torch"]

from jaxres.viz import charted


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The tag -> value pairs of one metrics.jsonl record: its headline numbers (`viz.charted`:
    no record count, no per-class table), under `<split>/`, learning rates under `lr/`."""
    split = record.get("split", "train")
    return {(key if key.split("/")[0] == "lr" else f"{split}/{key}"): value for key, value in charted(record).items()}


class Board:
    """A tensorboardX writer for one run, a no-op when disabled; the event file opens with the first record,
    so a run refused before its first step leaves the workdir as it was."""

    def __init__(self, logdir: str | os.PathLike, enabled: bool = True):
        self.logdir = pathlib.Path(logdir)
        self.enabled = enabled
        self._writer = None

    def _open(self):
        if self._writer is None:
            self._writer = SummaryWriter(logdir=str(self.logdir), flush_secs=30)
        return self._writer

    def record(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        step, writer = int(record.get("step", 0)), self._open()
        for tag, value in scalars(record).items():
            writer.add_scalar(tag, value, step)

    def pictures(self, paths: Iterable[str | os.PathLike], step: int) -> None:
        """PNG files as images under `pictures/<file stem>`."""
        if not self.enabled:
            return
        writer = self._open()
        for path in paths:
            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"))
            writer.add_image(f"pictures/{pathlib.Path(path).stem}", array, step, dataformats="HWC")

    def flush(self) -> None:
        """Write what is buffered (before the run's ending names the event file)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def event_files(logdir: str | os.PathLike) -> list[pathlib.Path]:
    return sorted(pathlib.Path(logdir).glob("events.out.tfevents.*"))
