"""A trained model on an original photo, once for `jaxres.load`, `predict` and the exports: the view
(`view`), the photo resampled through it (supersampled, so shrinking does not alias), the network
(flip-tested when asked), and `objective.to_photo` back into the photo's pixels."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxres.data import device_augment
from jaxres.models import normalize

SUPERSAMPLE = 4  # samples per output pixel and axis: enough for a photo shrunk ~8x without aliasing


@dataclasses.dataclass(frozen=True)
class Ops:
    """The few array operations the view and decoding formulas use, for one array library."""

    maximum: Callable
    minimum: Callable
    floor: Callable
    round: Callable
    where: Callable
    stack: Callable  # stack(arrays, axis)
    softmax: Callable  # over the last axis


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


NUMPY = Ops(np.maximum, np.minimum, np.floor, np.round, np.where, np.stack, _np_softmax)
JAX = Ops(jnp.maximum, jnp.minimum, jnp.floor, jnp.round, jnp.where, jnp.stack, jax.nn.softmax)


def corners(box_ltwh) -> np.ndarray:
    """[left, top, width, height] (the box a caller gives) -> (x0, y0, x1, y1) (the records' box)."""
    left, top, width, height = (float(v) for v in box_ltwh)
    return np.array([left, top, left + width, top + height])


def view(objective, w, h, box, ops):
    """(sx, sy, tx, ty) of a w x h photo and its box (x0, y0, x1, y1) or None. A kind that frames around a box
    crops it (with its margin); one that frames whole photos frames the box's region as it would a whole
    photo (a server's detector points it at a region; the whole photo's box gives the frame of no box)."""
    if box is None or objective.needs_box or not objective.takes_box:
        return objective.view(w, h, box, ops)
    sx, sy, tx, ty = objective.view(box[2] - box[0], box[3] - box[1], None, ops)
    return sx, sy, tx - sx * box[0], ty - sy * box[1]


def out_to_source(view, supersample: int):
    """3x3 matrix from the fine sampling grid's pixels to the photo's pixels."""
    sx, sy, tx, ty = view[0], view[1], view[2], view[3]
    n = float(supersample)
    zero, one = sx * 0.0, sx * 0.0 + 1.0
    return jnp.stack([jnp.stack([1.0 / (n * sx), zero, -tx / sx]), jnp.stack([zero, 1.0 / (n * sy), -ty / sy]),
                      jnp.stack([zero, zero, one])])


def frame(photo: jax.Array, view, size: int, supersample: int = SUPERSAMPLE) -> jax.Array:
    """float32 (size, size, C) in 0..255: the uint8 (H, W, C) photo seen through `view`, each output
    pixel the mean of supersample^2 bilinear samples; outside the photo is black, as in training."""
    fine = device_augment.warp(photo, out_to_source(view, supersample), size * supersample)
    c = fine.shape[-1]
    return fine.reshape(size, supersample, size, supersample, c).mean(axis=(1, 3))


@dataclasses.dataclass(frozen=True)
class FlipTested:
    """`model` whose `apply` runs each frame and its mirror in one batch and merges them (`merge_flipped`)."""

    model: Any
    objective: Any

    def __getattr__(self, name):
        return getattr(self.model, name)

    def apply(self, variables, x, train: bool = False):
        outputs = self.model.apply(variables, jnp.concatenate([x, x[:, :, ::-1]]), train=train)
        half = x.shape[0]
        return self.objective.merge_flipped(outputs[:half], outputs[half:], JAX)


def inference_model(model, objective):
    """The model an inference forward applies: with the flip test when the objective asks for it."""
    return FlipTested(model, objective) if objective.options.get("flip_test") else model


def network(model, objective, variables, frames: jax.Array) -> jax.Array:
    """The model's float32 outputs on float 0..255 frames (B, S, S, C), flip-tested when asked."""
    x = normalize(frames, model.in_channels)
    return inference_model(model, objective).apply(variables, x, train=False).astype(jnp.float32)


def photo_function(model, objective, variables: Any) -> Callable:
    """photo uint8 (H, W, C)[, box float32 (4,) left, top, width, height] -> the served output (one
    photo), every step inside: what the StableHLO export traces with symbolic H and W."""

    def served(photo, box=None):
        h, w = jnp.float32(photo.shape[0]), jnp.float32(photo.shape[1])
        corners_ = None if box is None else jnp.stack([box[0], box[1], box[0] + box[2], box[1] + box[3]])
        seen = view(objective, w, h, corners_, JAX)
        outputs = network(model, objective, variables, frame(photo, seen, objective.size)[None])[0]
        return objective.served(objective.to_photo(outputs, seen, JAX), JAX).astype(jnp.float32)

    return served
