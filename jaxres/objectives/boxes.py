"""One box per image, regressed as corners (x0, y0, x1, y1) normalised per image to the input frame."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxres import metrics, viz
from jaxres.data.affine import apply_box
from jaxres.data.images import load_image
from jaxres.data.records import Dataset, Record
from jaxres.objectives import losses
from jaxres.objectives.base import Objective


class BoxObjective(Objective):
    DEFAULTS = {
        # scale, shift and flip; never rotation, which would inflate the box
        "augment": {"flip_prob": None, "scale": None, "translate": None, "jitter": None},
        "loss": "smooth_l1",  # on [0, 1] coordinates of the input frame (jaxres.objectives.losses)
        "loss_options": {},
    }
    output_name = "box"  # the box is what it finds
    takes_box = True  # a photo's region to search (serving.view)
    columns = ("x", "y", "height", "width")  # the box project's own convention (`served`)

    def __init__(self, options: dict, facts: dict):
        super().__init__(options, facts)
        self.loss_fn = losses.for_kind("box", options["loss"], options["loss_options"])

    def model_options(self) -> dict:
        return {"head": "linear", "num_outputs": 4}

    def targets(self, records, base: np.ndarray) -> dict:
        """The box in base-output pixels, unclipped: clipping follows the augmentation (`place`)."""
        boxes = np.stack([np.zeros(4) if r.box is None else np.asarray(r.box, np.float64) for r in records])
        return {"box": apply_box(boxes, base)}

    def place(self, example: dict, matrix, flipped) -> dict:
        """Clipped to the frame: the target is the part of the object one can see."""
        return {"box": jnp.clip(apply_box(example["box"], matrix, jnp), 0.0, self.size) / self.size}

    def loss(self, outputs, batch):
        return self.loss_fn(outputs, batch["box"])

    def to_photo(self, outputs, view, ops):
        """(..., 4) [0, 1] frame corners -> (x0, y0, x1, y1) photo pixels, corners sorted (the network
        may swap them; a box is its min/max extent)."""
        sx, sy, tx, ty = view
        xs = ((outputs[..., 0] * self.size - tx) / sx, (outputs[..., 2] * self.size - tx) / sx)
        ys = ((outputs[..., 1] * self.size - ty) / sy, (outputs[..., 3] * self.size - ty) / sy)
        return ops.stack([ops.minimum(*xs), ops.minimum(*ys), ops.maximum(*xs), ops.maximum(*ys)], -1)

    def served(self, prediction, ops):
        """x, y, height, width (`columns`)."""
        x0, y0, x1, y1 = prediction[..., 0], prediction[..., 1], prediction[..., 2], prediction[..., 3]
        return ops.stack([x0, y0, y1 - y0, x1 - x0], -1)

    def evaluate(self, predictions: np.ndarray, dataset: Dataset) -> dict:
        return metrics.boxes.summarize(predictions, np.stack([np.asarray(r.box, np.float64) for r in dataset.records]))

    def picture(self, record: Record, prediction: np.ndarray, canvas=None):
        true = None if record.box is None else np.asarray(record.box)[None]
        return viz.draw_boxes(load_image(record.image, "RGB") if canvas is None else canvas, pred=prediction[None], true=true)
