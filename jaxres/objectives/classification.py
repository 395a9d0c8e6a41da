"""Image classification: cross-entropy (with label smoothing), top-k, macro/weighted F1, confusion."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxres import metrics, viz
from jaxres.data import device_augment as dev
from jaxres.data import framing
from jaxres.data.affine import center_crop_view, view_matrix
from jaxres.data.frame_cache import FrameSpec
from jaxres.data.records import Dataset, Record
from jaxres.errors import ConfigError
from jaxres.objectives import losses
from jaxres.objectives.base import Objective, captioned, record_name


class ClassificationObjective(Objective):
    DEFAULTS = {
        "resize_ratio": 0.875,  # evaluation: the centre crop's share of the resized side (torchvision's 224/256)
        "label_smoothing": 0.0,
        "augment": {"rrc_scale": [0.08, 1.0], "rrc_ratio": [3 / 4, 4 / 3], "flip_prob": 0.5, "jitter": None,
                    "rotate": None, "scale": None, "translate": None},
        "topk": [1, 5],  # top-k accuracies reported (those up to the number of classes)
        "predict_format": "topk",  # predict's CSV: "topk" classes and probabilities, or "id_category"
        "predict_topk": 5,
    }
    output_name = "probabilities"

    def __init__(self, options: dict, facts: dict):
        super().__init__(options, facts)
        self.loss_fn = losses.get("softmax_cross_entropy", label_smoothing=float(options["label_smoothing"]))
        self.classes: tuple[str, ...] = tuple(facts.get("classes") or ())

    @staticmethod
    def facts_of(train: Dataset) -> dict:
        return {"classes": list(train.classes or ())}

    def model_options(self) -> dict:
        return {"num_outputs": len(self.classes)}

    def frame_spec(self) -> FrameSpec:
        """The whole image stretched onto a square (`framing.classification_side`)."""
        a = self.augment
        side = framing.classification_side(self.size, float(self.options["resize_ratio"]), a["area"][0],
                                           a["zoom"][1])
        return FrameSpec(side=side, channels=self.channels, settings={"kind": "classification"})

    def frames(self, record: Record, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """The centre crop (evaluation) and the whole image stretched onto the cache's square."""
        return view_matrix(self.view(float(w), float(h), None, np)), framing.stretched(w, h, self.frame_spec().side)

    def targets(self, records, base: np.ndarray) -> dict:
        """The label (-1 for unlabelled prediction inputs)."""
        return {"label": np.array([-1 if r.label is None else r.label for r in records], np.int32)}

    def host_arrays(self, records, sizes: np.ndarray, train: bool) -> dict:
        """Training adds the original-to-cache matrix and the original size, for the random crops."""
        out = super().host_arrays(records, sizes, train)
        if train:
            side = self.frame_spec().side
            out["cache"] = np.stack([framing.stretched(int(w), int(h), side) for w, h in sizes]).astype(np.float32)
            out["size"] = np.asarray(sizes, np.float32)
        return out

    def device_example(self, example: dict, key: jax.Array, train: bool) -> dict:
        """Random-resized crop, flip and affine (train) or the centre crop, resampled from the cached frame."""
        a, size = self.augment, self.size
        out = {k: v for k, v in example.items() if k not in ("frame", "cache", "size")}
        to_frame, k_colour = example["frame"], None
        if train:
            k_crop, k_flip, k_colour, k_affine = jax.random.split(key, 4)
            crop = dev.crop_matrix(dev.random_resized_crop(k_crop, example["size"], a["area"], a["ratio"]), size)
            crop = jnp.where(dev.random_flip(k_flip, a["flip_prob"]), dev.hflip(size, jnp) @ crop, crop)
            if a["rotate"] or a["zoom"] != (1.0, 1.0) or a["translate"]:
                crop = dev.random_affine(k_affine, size, a["rotate"], a["zoom"], a["translate"]) @ crop
            to_frame = example["cache"] @ jnp.linalg.inv(crop)
        out["image"] = dev.render(example["image"], to_frame, size, k_colour, a["jitter"])
        return out

    def loss(self, outputs, batch):
        return self.loss_fn(outputs, batch["label"])

    def view(self, w, h, box, ops):
        return center_crop_view(w, h, self.size, float(self.options["resize_ratio"]), ops)

    def to_photo(self, outputs, view, ops):
        """Logits -> probabilities."""
        return ops.softmax(outputs)

    def evaluate(self, predictions: np.ndarray, dataset: Dataset) -> dict:
        true = _labels(dataset)
        ks = [k for k in self.options["topk"] if k <= predictions.shape[1]]
        out = metrics.classification.summarize(predictions, true, ks=ks)
        confusion = metrics.confusion_matrix(true, predictions.argmax(-1), predictions.shape[1])
        out["per_class"] = metrics.classification.per_class_table(confusion, self.classes)  # -> per_class.csv
        return out

    def extra_pictures(self, folder, predictions: np.ndarray, dataset: Dataset) -> list:
        """The confusion matrix beside the prediction sheet."""
        path = folder / "confusion.png"
        confusion = metrics.confusion_matrix(_labels(dataset), predictions.argmax(-1), predictions.shape[1])
        viz.plot_confusion(confusion, list(self.classes), path)
        return [path]

    def mean_output(self, train: Dataset) -> np.ndarray:
        raise ConfigError("model.head_init='mean_target' needs a regression objective (box or keypoints), "
                          "not 'classification'")

    def baseline(self, train: Dataset, dataset: Dataset, matrices=None) -> dict:
        """Metrics of always predicting the majority training class."""
        majority = metrics.baselines.majority_class(_labels(train))
        scores = np.zeros((len(dataset), len(self.classes)))
        scores[:, majority] = 1.0
        return {k: v for k, v in self.evaluate(scores, dataset).items() if k != "per_class"}

    def picture(self, record: Record, prediction: np.ndarray, canvas=None):
        top = int(prediction.argmax())
        truth = "" if record.label is None or record.label < 0 else f" / true {self.classes[record.label]}"
        # "4 0.28" would read as 40.28
        return captioned(record, f"{self.classes[top]} (p={prediction[top]:.2f}){truth}",
                         ok=record.label is None or record.label == top)

    def table(self, dataset: Dataset, predictions: np.ndarray) -> pd.DataFrame:
        fmt = self.options["predict_format"]
        names = [record_name(r) for r in dataset.records]
        if fmt == "id_category":  # the ImageNet-Sketch project's submission format
            ids = [n.rsplit(".", 1)[0] for n in names]
            return pd.DataFrame({"Id": ids, "Category": predictions.argmax(-1)})
        k = min(int(self.options["predict_topk"]), predictions.shape[1])
        order = np.argsort(-predictions, axis=-1)[:, :k]
        rows = {"image": names}
        for j in range(k):
            rows[f"class_{j + 1}"] = [self.classes[c] for c in order[:, j]]
            rows[f"prob_{j + 1}"] = np.take_along_axis(predictions, order[:, j : j + 1], -1)[:, 0]
        return pd.DataFrame(rows)


def _labels(dataset: Dataset) -> np.ndarray:
    return np.array([r.label for r in dataset.records], np.int64)
