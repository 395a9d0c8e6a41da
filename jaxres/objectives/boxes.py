"""One box per image, regressed as normalised corners (x0, y0, x1, y1) of the input frame.

Targets are normalised per image (the box project divided by one global maximum, so one large image
shrank every other target). Metrics in original pixels: mean IoU, IoU ≥ 0.5 / 0.75, MAE.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pandas as pd

from jaxres import metrics, viz
from jaxres.data import device_augment as dev
from jaxres.data import framed, framing, transforms
from jaxres.data.affine import apply_box, full_view
from jaxres.data.frame_cache import FrameSpec
from jaxres.data.records import Dataset, Record
from jaxres.objectives.common import (augment_options, baseline_sample, device_augment_settings,
                                      mean_target_outputs, record_name)
from jaxres.objectives import losses


class BoxObjective:
    target = "box"
    DEFAULTS = {
        "keep_aspect": True,  # letterbox the image into the square input instead of stretching it
        "augment": {"flip_prob": None, "scale": None, "translate": None, "jitter": None},
        "loss": "smooth_l1",  # on [0, 1] coordinates of the input frame (jaxres.objectives.losses)
        "loss_options": {},
    }

    def __init__(self, options: dict, facts: dict):
        self.options = options
        self.size = int(options["image_size"])
        self.channels = int(options["channels"])
        self.augment = device_augment_settings(options)
        self.loss_fn = losses.for_target("box", options["loss"], options["loss_options"])

    @staticmethod
    def facts_of(train: Dataset) -> dict:
        return {}

    def model_options(self) -> dict:
        return {"head": "linear", "num_outputs": 4}

    def example(self, record: Record, rng, train: bool) -> dict:
        if record.box is None:
            record = dataclasses.replace(record, box=np.zeros(4, np.float32))
        return transforms.box_sample(
            record,
            rng,
            out_size=self.size,
            channels=self.channels,
            keep_aspect=self.options["keep_aspect"],
            train=train,
            **augment_options(self.options, train),
        )

    # --- the decode-once, augment-on-device path -------------------------------------------------

    def frame_spec(self) -> FrameSpec:
        a = self.augment
        settings = {"kind": "box", "size": self.size, "zoom": a["zoom"],
                    "keep_aspect": bool(self.options["keep_aspect"])}
        return FrameSpec(side=framing.whole_side(self.size, a["zoom"]), channels=self.channels, settings=settings)

    def _frames_of(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        return framing.whole(w, h, self.size, bool(self.options["keep_aspect"]), self.frame_spec().side)

    def frame_of(self, record: Record, w: int, h: int) -> np.ndarray:
        return self._frames_of(w, h)[1]

    def host_arrays(self, records, sizes: np.ndarray, train: bool) -> dict:
        """The base frame in the cache ("frame"), the box in base-output pixels (unclipped: clipping
        follows the augmentation), and (evaluation) the matrix predictions are mapped back through."""
        base, frame = (np.stack(m) for m in zip(*(self._frames_of(int(w), int(h)) for w, h in sizes)))
        boxes = np.stack([np.zeros(4) if r.box is None else np.asarray(r.box, np.float64) for r in records])
        return framed.frame_arrays(base, frame, train, box=apply_box(boxes, base))

    def device_example(self, example: dict, key: jax.Array, train: bool) -> dict:
        """Scale, shift and flip (never rotate: it would inflate the box), resample, box clipped to the frame."""
        a, size = self.augment, self.size
        to_frame, box, colour_key = example["frame"], example["box"], None
        if train:
            k_geometry, colour_key = jax.random.split(key)
            aug, _ = dev.random_output_geometry(k_geometry, size, 0.0, a["zoom"], a["translate"], a["flip_prob"])
            to_frame, box = to_frame @ jax.numpy.linalg.inv(aug), dev.apply_box(box, aug)
        out = {k: v for k, v in example.items() if k != "frame"}
        out.update(image=dev.render(example["image"], to_frame, size, colour_key, a["jitter"]),
                   box=jax.numpy.clip(box, 0.0, size) / size)
        return out

    def loss(self, outputs, batch):
        return self.loss_fn(outputs, batch["box"])

    def decode(self, outputs: np.ndarray, batch: dict) -> np.ndarray:
        corners = transforms.denormalise_box(outputs, batch["matrix"], self.size)
        # The network may swap corners; a box is its min/max extent.
        return np.concatenate([np.minimum(corners[..., :2], corners[..., 2:]),
                               np.maximum(corners[..., :2], corners[..., 2:])], axis=-1)

    # --- one photo at a time (jaxres.objectives.serving: the predictor and the exports) ----------------------

    output_name = "box"
    needs_box = False  # the box is what it finds: the frame is the whole photo, or a region a caller gives
    takes_box = True  # a photo's region to search (serving.view)

    def view(self, w, h, box, ops):
        return full_view(w, h, self.size, bool(self.options["keep_aspect"]), ops)

    def to_photo(self, outputs, view, ops):
        """(..., 4) [0, 1] frame corners -> (x0, y0, x1, y1) photo pixels, corners sorted."""
        sx, sy, tx, ty = view
        xs = ((outputs[..., 0] * self.size - tx) / sx, (outputs[..., 2] * self.size - tx) / sx)
        ys = ((outputs[..., 1] * self.size - ty) / sy, (outputs[..., 3] * self.size - ty) / sy)
        return ops.stack([ops.minimum(*xs), ops.minimum(*ys), ops.maximum(*xs), ops.maximum(*ys)], -1)

    def served(self, prediction, ops):
        """The CSV's convention (`table`): x, y, height, width."""
        x0, y0, x1, y1 = prediction[..., 0], prediction[..., 1], prediction[..., 2], prediction[..., 3]
        return ops.stack([x0, y0, y1 - y0, x1 - x0], -1)

    def truth(self, dataset: Dataset) -> np.ndarray:
        return np.stack([np.asarray(r.box, np.float64) for r in dataset.records])

    def evaluate(self, predictions: np.ndarray, dataset: Dataset) -> dict:
        return metrics.boxes.summarize(predictions, self.truth(dataset))

    def _train_targets01(self, train: Dataset) -> np.ndarray:
        """Training boxes of a seeded sample as the network's [0, 1] outputs, clipped to the input
        frame as the training target is."""
        records, sizes = baseline_sample(train)
        return np.clip(self.host_arrays(records, sizes, train=False)["box"], 0.0, self.size) / self.size

    def baseline(self, train: Dataset, dataset: Dataset, matrices: np.ndarray) -> dict:
        """Metrics of predicting the mean training box (in the input frame) for every image."""
        return self.evaluate(self.decode(*mean_target_outputs(self._train_targets01(train), matrices)), dataset)

    def mean_output(self, train: Dataset) -> np.ndarray:
        """The mean training box as the network's (4,) output (`model.head_init="mean_target"`)."""
        return metrics.baselines.mean_target(self._train_targets01(train))

    def extra_pictures(self, folder, predictions: np.ndarray, dataset: Dataset) -> list:
        return []

    def picture(self, record: Record, prediction: np.ndarray, canvas=None):
        from jaxres.data.images import load_image

        return viz.draw_boxes(load_image(record.image, "RGB") if canvas is None else canvas, pred=prediction[None], true=None if record.box is None else np.asarray(record.box)[None])

    def table(self, dataset: Dataset, predictions: np.ndarray) -> pd.DataFrame:
        """The box project's own convention: x, y, height, width in pixels."""
        x0, y0, x1, y1 = predictions.T
        return pd.DataFrame({
            "image": [record_name(r) for r in dataset.records],
            "x": x0, "y": y0, "height": y1 - y0, "width": x1 - x0,
        })
