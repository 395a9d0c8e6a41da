"""A split as the step consumes it: cached frames and the objective's per-record arrays, gathered a
batch at a time, and the jitted `Transform` that makes model pixels on the device."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from jaxres.data import device_augment


@dataclasses.dataclass
class FramedSet:
    """`batch(indices)` -> {"image": uint8 cached frames, "index": int32 row numbers, per-record arrays}."""

    frames: Any  # frame_cache.Frames
    arrays: dict[str, np.ndarray]

    def batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        out = {key: value[indices] for key, value in self.arrays.items()}
        out["image"] = self.frames.take(indices)
        out["index"] = indices.astype(np.int32)
        return out


def frame_arrays(base: np.ndarray, frame: np.ndarray, train: bool, **targets: np.ndarray) -> dict[str, np.ndarray]:
    """Per record: "frame" (base output -> cached frame pixels), the targets as float32, and for
    evaluation "matrix" (original pixels -> base output)."""
    out = {"frame": (frame @ np.linalg.inv(base)).astype(np.float32),
           **{key: value.astype(np.float32) if value.dtype.kind == "f" else value for key, value in targets.items()}}
    if not train:
        out["matrix"] = base.astype(np.float32)
    return out


def build(objective, records, frames, *, train: bool) -> FramedSet:
    return FramedSet(frames, objective.host_arrays(records, frames.sizes, train))


@dataclasses.dataclass(frozen=True)
class Transform:
    """`(batch, step_key) -> batch`: each example through `objective.device_example` with its own key; a
    value, not a closure, so equal transforms reuse the compiled step."""

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
