"""The interface every target kind implements: the one place that says what a kind owns.

A target kind (keypoints, box, label, or a task's own) is built once, from the config's `objective`
section and the facts its training split decided (`objectives.create(options, facts)`), and is the
only code that knows what its targets are. The engine calls these methods and never asks which kind
it holds. It declares the defaults of its own `objective` keys (`DEFAULTS`). The stages it owns:
- data: where each record's pixels are cached and what per-record arrays the host ships
  (`frame_spec`, `frame_of`, `host_arrays`), and the jnp transform of one example inside the step
  (`device_example`); `example` is the same on the host path (`data.pipeline=host`);
- training: `facts_of` (what the training split decides: classes, number of points; kept in the
  workdir's data_facts.json), `model_options` (head and output size from those facts), `loss`;
- judging: `decode` (outputs to original pixels or probabilities), `evaluate` (the field's metrics),
  `baseline` (the trivial predictor's metrics), `picture` / `extra_pictures`, `table` (predict's CSV);
- one photo at a time (`jaxres.objectives.serving`: `jaxres.load`, `predict`, the exports): `view` (the frame of
  a photo and its box, in any array namespace), `to_photo`, `served`, `output_name`, `needs_box`, and
  for keypoints `merge_flipped` (the flip test).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Sequence, runtime_checkable

import jax
import numpy as np
import pandas as pd

from jaxres.data.frame_cache import FrameSpec
from jaxres.data.records import Dataset, Record


@runtime_checkable
class TargetKind(Protocol):
    DEFAULTS: ClassVar[dict]  # the defaults of this kind's `objective` keys (jaxres.config.defaults.complete)
    target: str  # the batch key that holds the target ("keypoints", "box", "label", ...)
    output_name: str  # what a prediction is called ("keypoints", "box", "probabilities", ...)
    needs_box: bool  # whether a photo is framed around a box the caller gives
    size: int  # the network's input side in pixels
    channels: int

    def __init__(self, options: dict, facts: dict):
        """`options`: the config's completed `objective` section; `facts`: what `facts_of` returned."""

    @staticmethod
    def facts_of(train: Dataset) -> dict:
        """What the training split decides and eval/predict need again (JSON: classes, point count)."""

    def model_options(self) -> dict:
        """Keyword arguments of `models.create` the facts decide (head, num_outputs)."""

    def frame_spec(self) -> FrameSpec:
        """The cached frame's side, channels and the settings that shape it (part of the cache key)."""

    def frame_of(self, record: Record, width: int, height: int) -> np.ndarray:
        """3×3 matrix from the record's original pixels to its cached frame."""

    def host_arrays(self, records: Sequence[Record], sizes: np.ndarray, train: bool) -> dict[str, np.ndarray]:
        """Per-record arrays shipped with each cached row (see `framed.frame_arrays`)."""

    def device_example(self, example: dict, key: jax.Array, train: bool) -> dict:
        """One example inside the jitted step: cached frame -> model image (0..255 float) and targets."""

    def example(self, record: Record, rng: np.random.Generator, train: bool) -> dict:
        """One example decoded and augmented on the host (the `data.pipeline=host` path)."""

    def loss(self, outputs: Any, batch: dict) -> jax.Array:
        """Scalar float32 loss of a batch."""

    def decode(self, outputs: np.ndarray, batch: dict) -> np.ndarray:
        """Network outputs -> predictions in original pixels (or class probabilities)."""

    def evaluate(self, predictions: np.ndarray, dataset: Dataset) -> dict:
        """The field's metrics of `predictions` on `dataset` (NME, PCK, IoU, top-1, F1, ...)."""

    def baseline(self, train: Dataset, dataset: Dataset, matrices: np.ndarray) -> dict:
        """`evaluate` of the trivial predictor (mean shape, mean box, majority class)."""

    def picture(self, record: Record, prediction: np.ndarray, canvas=None):
        """A PIL image of one prediction over its record's image (or over `canvas`: the same photo with
        its other records drawn)."""

    def extra_pictures(self, folder, predictions: np.ndarray, dataset: Dataset) -> list:
        """Pictures of the whole split this kind adds (a confusion matrix), written into `folder`."""

    def table(self, dataset: Dataset, predictions: np.ndarray) -> pd.DataFrame:
        """`predict`'s CSV rows, in the original project's convention."""

    def view(self, w, h, box, ops) -> tuple:
        """(sx, sy, tx, ty): the evaluation frame of a w x h photo (box (x0, y0, x1, y1) or None) as
        output = s * photo + t, computed with `ops` (`jaxres.objectives.serving.Ops`: numpy, jax.numpy or torch)."""

    def to_photo(self, outputs, view, ops):
        """One photo's network outputs -> its prediction in the photo's pixels (`decode`'s convention)."""

    def served(self, prediction, ops):
        """A prediction as the exports and `jaxres.load` return it (the CSV's convention)."""
