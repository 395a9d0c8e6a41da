"""One box per image, regressed as normalised corners (x0, y0, x1, y1) of the input frame.

Targets are normalised per image (the box project divided by one global maximum, so one large image
shrank every other target). Metrics in original pixels: mean IoU, IoU ≥ 0.5 / 0.75, MAE.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from jaxres import metrics, viz
from jaxres.data import transforms
from jaxres.data.records import Dataset, Record
from jaxres.objectives.common import augment_options, mean_target_baseline, record_name
from jaxres.train import losses


class BoxObjective:
    target = "box"

    def __init__(self, options: dict):
        self.options = options
        self.size = int(options["image_size"])
        self.channels = int(options.get("channels", 3))
        self.loss_fn = losses.get(options.get("loss", "smooth_l1"), **options.get("loss_options", {}))

    def model_options(self, dataset: Dataset) -> dict:
        return {"head": "linear", "num_outputs": 4}

    def example(self, record: Record, rng, train: bool) -> dict:
        if record.box is None:
            record = dataclasses.replace(record, box=np.zeros(4, np.float32))
        return transforms.box_sample(
            record,
            rng,
            out_size=self.size,
            channels=self.channels,
            keep_aspect=self.options.get("keep_aspect", True),
            train=train,
            **augment_options(self.options, train),
        )

    def loss(self, outputs, batch):
        return self.loss_fn(outputs, batch["box"])

    def decode(self, outputs: np.ndarray, batch: dict) -> np.ndarray:
        corners = transforms.denormalise_box(outputs, batch["matrix"], self.size)
        # The network may swap corners; a box is its min/max extent.
        return np.concatenate([np.minimum(corners[..., :2], corners[..., 2:]),
                               np.maximum(corners[..., :2], corners[..., 2:])], axis=-1)

    def truth(self, dataset: Dataset) -> np.ndarray:
        return np.stack([np.asarray(r.box, np.float64) for r in dataset.records])

    def evaluate(self, predictions: np.ndarray, dataset: Dataset) -> dict:
        return metrics.boxes.summarize(predictions, self.truth(dataset))

    def baseline(self, train: Dataset, dataset: Dataset, train_outputs01: np.ndarray, matrices: np.ndarray) -> dict:
        """Metrics of predicting the mean training box (in the input frame) for every image."""
        return mean_target_baseline(self, dataset, train_outputs01, matrices)

    def picture(self, record: Record, prediction: np.ndarray):
        from jaxres.data.images import load_image

        return viz.draw_boxes(load_image(record.image, "RGB"), pred=prediction[None], true=None if record.box is None else np.asarray(record.box)[None])

    def table(self, dataset: Dataset, predictions: np.ndarray) -> pd.DataFrame:
        """The box project's own convention: x, y, height, width in pixels."""
        x0, y0, x1, y1 = predictions.T
        return pd.DataFrame({
            "image": [record_name(r) for r in dataset.records],
            "x": x0, "y": y0, "height": y1 - y0, "width": x1 - x0,
        })
