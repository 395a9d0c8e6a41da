"""What an objective is (`objective.kind`): the only code that knows what the targets are.

A kind subclasses `Objective` and writes `DEFAULTS`, `model_options`, `targets`, `loss`, `evaluate` and
`to_photo`; it overrides the frame, `place`, the baseline, the CSV or the pictures only where the default
does not fit. Every array the step sees is one example's (`jax.vmap` runs it over the batch)."""

from __future__ import annotations

import os
from typing import ClassVar, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from PIL import ImageDraw

from jaxres import viz
from jaxres.data import device_augment as dev
from jaxres.data import framed, framing
from jaxres.data.affine import full_view
from jaxres.data.frame_cache import FrameSpec
from jaxres.data.images import image_size, load_image
from jaxres.data.photometric import jitter_amounts
from jaxres.data.records import Dataset, Record
from jaxres.errors import ConfigError
from jaxres.metrics import baselines
from jaxres.objectives.serving import NUMPY

_BASELINE_SAMPLE = 512  # training records the mean target is taken over (a seeded sample of big sets)


class Objective:
    DEFAULTS: ClassVar[dict] = {}  # the defaults of this kind's `objective` keys (jaxres.config.defaults)
    output_name: ClassVar[str] = "prediction"  # what a prediction is called (exports, `jaxres.load`, CSV)
    columns: ClassVar[tuple[str, ...]] = ()  # the CSV's names of the served values (default: output_name[_i])
    needs_box: bool = False  # whether a photo is framed around a box the caller gives
    # whether a photo may come with a box: to crop (`needs_box`, which implies it) or a region to frame
    takes_box: ClassVar[bool] = False

    def __init__(self, options: dict, facts: dict):
        """`options`: the config's completed `objective` section; `facts`: what `facts_of` returned."""
        self.options = options
        self.size = int(options["image_size"])  # the network's input side in pixels
        self.channels = int(options["channels"])
        augment = options.get("augment") or {}  # parsed once: rotate in degrees, translate a share of the frame
        self.augment = {
            "rotate": float(augment.get("rotate") or 0.0), "zoom": framing.scale_range(augment.get("scale") or 0.0),
            "translate": float(augment.get("translate") or 0.0), "flip_prob": float(augment.get("flip_prob") or 0.0),
            "jitter": jitter_amounts(augment.get("jitter")),
            "area": tuple(float(v) for v in augment.get("rrc_scale") or (1.0, 1.0)),
            "ratio": tuple(float(v) for v in augment.get("rrc_ratio") or (1.0, 1.0))}

    # --- training: what the data decides, the head, the loss -----------------------------------------

    @staticmethod
    def facts_of(train: Dataset) -> dict:
        """What the training split decides and eval/predict need again (JSON: classes, point count)."""
        return {}

    def model_options(self) -> dict:
        """Keyword arguments of `models.create` the facts decide (head, num_outputs)."""
        raise NotImplementedError

    def loss(self, outputs, batch: dict) -> jax.Array:
        """Scalar float32 loss of a batch (its targets as `place` left them)."""
        raise NotImplementedError

    # --- data: the cached frame, the host's per-record arrays, one example in the step ---------------

    @property
    def keep_aspect(self) -> bool:
        return bool(self.options["keep_aspect"])

    def frame_spec(self) -> FrameSpec:
        """The cached frame's side, channels and what shapes it (part of the cache key)."""
        a = self.augment
        settings = {"kind": self.options["kind"], "size": self.size, "zoom": a["zoom"], "keep_aspect": self.keep_aspect}
        return FrameSpec(side=framing.whole_side(self.size, a["zoom"]), channels=self.channels, settings=settings)

    def frames(self, record: Record, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """(base, frame): 3x3 matrices from the record's original pixels to the evaluation frame (what
        `view` gives for a photo) and to its cached frame."""
        return framing.whole(w, h, self.size, self.keep_aspect, self.frame_spec().side)

    def frame_of(self, record: Record, w: int, h: int) -> np.ndarray:
        return self.frames(record, w, h)[1]

    def targets(self, records: Sequence[Record], base: np.ndarray) -> dict[str, np.ndarray]:
        """Each record's targets in its base frame's pixels ((N, 3, 3) `base`), by batch key; an
        unlabelled record (a photo to predict on) gets a placeholder of the same shape."""
        raise NotImplementedError

    def host_arrays(self, records: Sequence[Record], sizes: np.ndarray, train: bool) -> dict[str, np.ndarray]:
        """Per-record arrays shipped with each cached row (`framed.frame_arrays`)."""
        base, frame = (np.stack(m) for m in zip(*(self.frames(r, int(w), int(h)) for r, (w, h) in zip(records, sizes))))
        return framed.frame_arrays(base, frame, train, **self.targets(records, base))

    def place(self, example: dict, matrix: jax.Array, flipped: jax.Array) -> dict:
        """One example's targets moved by the augmentation `matrix` (base -> augmented output pixels; `flipped`:
        it mirrors), as the loss reads them; the default leaves them as they are (a count, a label)."""
        return {}

    def device_example(self, example: dict, key: jax.Array, train: bool) -> dict:
        """One example inside the jitted step: cached frame -> 0..255 float input pixels, targets through
        `place`; training draws the `augment` geometry (rotation, zoom, shift, flip) and colour from `key`."""
        a, to_frame, colour_key = self.augment, example["frame"], None
        matrix, flipped = jnp.eye(3, dtype=jnp.float32), jnp.zeros((), bool)
        if train:
            k_geometry, colour_key = jax.random.split(key)
            matrix, flipped = dev.random_output_geometry(k_geometry, self.size, a["rotate"], a["zoom"], a["translate"],
                                                         a["flip_prob"])
            to_frame = to_frame @ jnp.linalg.inv(matrix)
        out = {k: v for k, v in example.items() if k != "frame"}
        out.update(self.place(out, matrix, flipped))
        out["image"] = dev.render(example["image"], to_frame, self.size, colour_key, a["jitter"])
        return out

    # --- judging ------------------------------------------------------------------------------------

    def decode(self, outputs: np.ndarray, batch: dict) -> np.ndarray:
        """Network outputs -> predictions in original pixels (`to_photo` through each example's
        evaluation frame, `batch["matrix"]`)."""
        outputs = np.asarray(outputs, np.float64)
        m = np.asarray(batch["matrix"], np.float64)
        lead = (len(m),) + (1,) * max(outputs.ndim - 2, 0)
        view = tuple(m[:, i, j].reshape(lead) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))
        return self.to_photo(outputs, view, NUMPY)

    def evaluate(self, predictions: np.ndarray, dataset: Dataset) -> dict:
        """The field's metrics of `predictions` on `dataset` (NME, PCK, IoU, top-1, F1, ...)."""
        raise NotImplementedError

    def train_outputs(self, train: Dataset) -> np.ndarray:
        """The network outputs that are exactly right for a seeded sample of the training split."""
        pick = np.random.default_rng(0).permutation(len(train))[:_BASELINE_SAMPLE]
        records = [train.records[i] for i in sorted(pick)]
        sizes = np.array([image_size(r.image) for r in records], np.int64)
        base = np.stack([self.frames(r, int(w), int(h))[0] for r, (w, h) in zip(records, sizes)])
        targets = {k: np.asarray(v, np.float32) for k, v in self.targets(records, base).items()}
        # one compiled program: op by op, each of place's operations would compile on its own
        placed = jax.jit(jax.vmap(lambda t: self.place(t, jnp.eye(3, dtype=jnp.float32), jnp.zeros((), bool))))(targets)
        (right,) = ({**targets, **placed}[k] for k in targets)
        return np.asarray(right)

    def mean_output(self, train: Dataset) -> np.ndarray:
        """The mean training target as one network output (`model.head_init="mean_target"`)."""
        return baselines.mean_target(self.train_outputs(train))

    def baseline(self, train: Dataset, dataset: Dataset, matrices: np.ndarray) -> dict:
        """`evaluate` of the trivial predictor: the mean training target (in the input frame) for every
        image, decoded through each image's frame (`matrices`)."""
        mean = baselines.mean_target(self.train_outputs(train))
        return self.evaluate(self.decode(np.broadcast_to(mean, (len(matrices),) + mean.shape),
                                         {"matrix": matrices}), dataset)

    def picture(self, record: Record, prediction: np.ndarray, canvas=None):
        """A PIL image of one prediction over its record's image (or over `canvas`: the same photo with
        its other records drawn); the default writes the prediction over the picture."""
        return captioned(record, f"{self.output_name} {np.round(prediction, 2)}", ok=True)

    def extra_pictures(self, folder, predictions: np.ndarray, dataset: Dataset) -> list:
        """Pictures of the whole split this kind adds (a confusion matrix), written into `folder`."""
        return []

    def table(self, dataset: Dataset, predictions: np.ndarray) -> pd.DataFrame:
        """`predict`'s CSV: the image, then the served prediction (`columns`, one per value)."""
        served = np.asarray(self.served(predictions, NUMPY)).reshape(len(predictions), -1)
        names = self.columns or ([self.output_name] if served.shape[1] == 1 else
                                 [f"{self.output_name}_{i}" for i in range(served.shape[1])])
        return pd.DataFrame({"image": [record_name(r) for r in dataset.records], **dict(zip(names, served.T))})

    # --- one photo at a time (jaxres.objectives.serving: `jaxres.load`, `predict`, the exports) -----

    def view(self, w, h, box, ops) -> tuple:
        """(sx, sy, tx, ty): the evaluation frame of a w x h photo (box (x0, y0, x1, y1) or None) as
        output = s * photo + t, with `ops` (numpy, jax.numpy or torch; `serving.Ops`)."""
        return full_view(w, h, self.size, self.keep_aspect, ops)

    def to_photo(self, outputs, view, ops):
        """Network outputs -> the prediction in the photo's pixels (or probabilities), with `ops`."""
        raise NotImplementedError

    def served(self, prediction, ops):
        """A prediction as the exports and `jaxres.load` return it (the CSV's convention)."""
        return prediction

    def flip_permutation(self) -> list[int] | None:
        """Which outputs swap under a mirror (the flip test, exports' metadata); None: no flip test."""
        return None

    def merge_flipped(self, outputs, mirrored, ops):
        """The flip test's mean of a frame's outputs and its mirror image's."""
        raise ConfigError(f"objective.flip_test is not available for objective.kind {self.options['kind']!r}")


def record_name(record: Record) -> str:
    if "id" in record.meta:
        return str(record.meta["id"])
    if isinstance(record.image, (str, os.PathLike)):
        return os.path.basename(str(record.image))
    return record.source


def captioned(record: Record, text: str, ok: bool):
    """The record's image at 160 px with `text` on a black band, green when `ok`, else red."""
    image = viz.to_image(load_image(record.image, "RGB")).resize((160, 160))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 160, 14), fill=(0, 0, 0))
    draw.text((2, 1), text, fill=(0, 255, 0) if ok else (255, 64, 64))
    return image
