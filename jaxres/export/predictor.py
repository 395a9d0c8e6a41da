"""`jaxres.load(workdir)`: a trained workdir as one object that predicts on photos.

The workdir is read here once (`train.restore.best`) and the `predict`, `eval` and `export` commands
work from this object; a photo goes through `jaxres.objectives.serving`, the steps the exports carry
in their graphs, so every route gives the same numbers. The framing compiles once per photo shape,
the network once per power-of-two batch size, so repeated calls never trace again (`traces`).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import pathlib
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxres.data.images import load_image
from jaxres.errors import UserError
from jaxres.objectives import serving
from jaxres.train.restore import best


@dataclasses.dataclass
class Prediction:
    """One photo's prediction, named as the exports name their output (`objective.output_name`):
    "keypoints" (K, 2) x, y in the photo's pixels, "box" [x, y, height, width] (the box task's CSV
    convention) or "probabilities" (C,) in the order of `classes`. `box_used`: the box [left, top,
    width, height] the frame was taken from, for a task that takes one (the whole photo when none
    was given)."""

    name: str
    value: np.ndarray
    classes: tuple[str, ...] | None = None
    box_used: np.ndarray | None = None

    def __getattr__(self, name):  # prediction.keypoints, .box, .probabilities
        if name in ("keypoints", "box", "probabilities") and self.__dict__.get("name") == name:
            return self.value
        raise AttributeError(f"this prediction holds {self.__dict__.get('name')!r}, not {name!r}")

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The k most probable (class name, probability) pairs."""
        order = np.argsort(-self.value)[:k]
        return [(self.classes[i], float(self.value[i])) for i in order]


class Predictor:
    """A workdir's model, ready to predict: `config`, `facts`, `objective`, `model`, `variables`, `step`,
    `classes` (None for a task without), `needs_box` (each photo is cropped around a box, a face's; predict's
    CSV records it) and `takes_box` (`predict` and the exports take a box beside the photo)."""

    def __init__(self, built, variables: Mapping, step: int, workdir: pathlib.Path):
        self.built, self.workdir, self.step = built, pathlib.Path(workdir), int(step)
        self.config, self.facts, self.objective, self.model = built.config, built.facts, built.objective, built.model
        self.classes: tuple[str, ...] | None = tuple(self.facts.classes or ()) or None
        self.needs_box, self.takes_box = bool(self.objective.needs_box), bool(self.objective.takes_box)
        self.variables = jax.device_put(variables)
        self.traces: collections.Counter = collections.Counter()
        self._frame = jax.jit(self._frame_fn)
        self._network = jax.jit(self._network_fn)

    def metadata(self, task: str) -> dict:
        """What a server needs to read an exported model's inputs and outputs (JSON)."""
        inputs = {"photo": "uint8 (H, W, C): the original photo"}
        if self.takes_box:
            inputs["box"] = ("float32 (4,): left, top, width, height in the photo's pixels; " + (
                f"cropped square with a margin of {self.objective.options['margin']:g} of its longer side"
                if self.needs_box else "its region framed as training framed whole photos") +
                "; [0, 0, W, H] for the whole photo")
        return {"task": task, "objective": self.config["objective"]["kind"], "classes": self.classes,
                "num_keypoints": self.facts.num_keypoints, "flip_map": self.objective.flip_permutation(),
                "flip_test": bool(self.objective.options.get("flip_test", False)), "checkpoint_step": self.step,
                "inputs": inputs, "output": self.objective.output_name, "image_size": self.objective.size,
                "channels": self.objective.channels}

    def _frame_fn(self, photo, view):
        self.traces["frame"] += 1
        return serving.frame(photo, view, self.objective.size)

    def _network_fn(self, variables, frames):
        self.traces["network"] += 1
        return serving.network(self.model, self.objective, variables, frames)

    # --- the public call ------------------------------------------------------------------------

    def predict(self, image, box=None):
        """`image`: a path, a PIL image or a uint8 array (H, W[, C]); `box`: [left, top, width, height] in
        its pixels (keypoint and box tasks: `serving.view`; None: the whole photo). A list of images (and a
        list of boxes, or None) is run as a batch and gives a list of `Prediction`."""
        if isinstance(image, (list, tuple)):
            boxes = [None] * len(image) if box is None else list(box)
            if len(boxes) != len(image):
                raise UserError(f"{len(image)} images but {len(boxes)} boxes")
            predictions, used = self.run([self.photo(im) for im in image],
                                         [None if b is None else serving.corners(b) for b in boxes])
            name, served = self.objective.output_name, self.objective.served
            return [Prediction(name, np.asarray(served(value, serving.NUMPY)), self.classes, box_used)
                    for value, box_used in zip(predictions, used)]
        return self.predict([image], None if box is None else [box])[0]

    def photo(self, image) -> np.ndarray:
        """uint8 (H, W, C) with the model's channels, decoded as training decodes (EXIF orientation)."""
        if hasattr(image, "convert"):  # a PIL image
            image = np.asarray(image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else image.mode))
        mode = "L" if self.objective.channels == 1 else "RGB"
        return load_image(image if isinstance(image, (str, os.PathLike)) else np.asarray(image), mode)

    def run(self, photos: Sequence[np.ndarray], boxes: Sequence[Any]) -> tuple[np.ndarray, list]:
        """(predictions in the objective's `decode` convention (N, ...), the boxes used as [left, top, width,
        height], None for a task that takes none): the photos framed one by one, the network over batches."""
        views, frames, used = [], [], []
        for photo, box in zip(photos, boxes):
            h, w = photo.shape[:2]
            if self.takes_box and box is None:
                box = np.array([0.0, 0.0, w, h])
            view = serving.view(self.objective, float(w), float(h), box, serving.NUMPY)
            views.append(view)
            used.append(np.array([box[0], box[1], box[2] - box[0], box[3] - box[1]]) if self.takes_box else None)
            frames.append(self._frame(jnp.asarray(photo), jnp.asarray(view, jnp.float32)))
        predictions = np.stack([self.objective.to_photo(np.asarray(o, np.float64), v, serving.NUMPY)
                                for o, v in zip(self._outputs(frames), views)])
        return predictions, used

    def _outputs(self, frames: list) -> list[np.ndarray]:
        """The network over the frames in batches of a power of two (padded), at most the training batch."""
        limit = max(1, int(self.config["train"]["batch_size"]))
        out: list[np.ndarray] = []
        for start in range(0, len(frames), limit):
            chunk = frames[start:start + limit]
            size = 1 << (len(chunk) - 1).bit_length()
            batch = jnp.stack(chunk + [jnp.zeros_like(chunk[0])] * (min(size, limit) - len(chunk)))
            out += list(np.asarray(jax.device_get(self._network(self.variables, batch)))[:len(chunk)])
        return out


def load(workdir: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> Predictor:
    """The workdir's best checkpoint (else its latest intact one) as a `Predictor`. `overrides` set
    inference keys of its config, e.g. {"objective.flip_test": True}."""
    built, variables, step = best(workdir, overrides)
    return Predictor(built, variables, step, pathlib.Path(workdir))
