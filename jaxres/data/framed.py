"""A split as the step consumes it: cached frames plus the small per-record arrays its objective
ships, gathered a whole batch at a time, and the jitted transform that turns them into model pixels.

The host's work per batch is one gather of cached rows and a few fancy-indexed arrays; the random
geometry, colour and resampling run in `transform` on the device (the step normalises). The objective
supplies `frame_spec`, `frame_of`, `host_arrays` and `device_example`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from jaxres.data import device_augment


class FramedSet:
    """`batch(indices)` -> {"image": uint8 cached frames, "index": int32 row numbers, per-record arrays}."""

    def __init__(self, frames, arrays: dict[str, np.ndarray]):
        self.frames = frames
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.frames)

    def batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        out = {key: value[indices] for key, value in self.arrays.items()}
        out["image"] = self.frames.take(indices)
        out["index"] = indices.astype(np.int32)
        return out


def frame_arrays(base: np.ndarray, frame: np.ndarray, train: bool, **targets: np.ndarray) -> dict[str, np.ndarray]:
    """What every objective ships per record: "frame" (base-output pixels -> cached-frame pixels,
    which the device composes with its random geometry), the targets (floats as float32), and for
    evaluation "matrix" (original pixels -> base output), through which predictions go back."""
    out = {"frame": (frame @ np.linalg.inv(base)).astype(np.float32),
           **{key: value.astype(np.float32) if value.dtype.kind == "f" else value for key, value in targets.items()}}
    if not train:
        out["matrix"] = base.astype(np.float32)
    return out


def build(objective, records, frames, *, train: bool) -> FramedSet:
    return FramedSet(frames, objective.host_arrays(records, frames.sizes, train))


@dataclasses.dataclass(frozen=True)
class Transform:
    """`(batch, step_key) -> batch` for the jitted steps: each example through `objective.device_example`
    with its own key (from the step's key and the example's index); the padding mask passes through.

    A value, not a closure: two transforms of the same objective are equal, so the compiled step that
    holds one is reused (validation builds it every epoch) instead of traced again."""

    objective: Any
    train: bool

    def __call__(self, batch: dict, step_key: jax.Array) -> dict:
        keys = device_augment.example_keys(step_key, batch["index"])
        per_example = {k: v for k, v in batch.items() if k != "mask"}
        out = jax.vmap(lambda example, key: self.objective.device_example(example, key, self.train))(per_example, keys)
        if "mask" in batch:
            out["mask"] = batch["mask"]
        return out


def transform(objective, train: bool) -> Transform:
    return Transform(objective, bool(train))
