"""Image classification: cross-entropy (with label smoothing), top-k, macro/weighted F1, confusion."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxres import metrics, viz
from jaxres.data import device_augment as dev
from jaxres.data import framed, framing, transforms
from jaxres.data.frame_cache import FrameSpec
from jaxres.data.records import Dataset, Record
from jaxres.errors import ConfigError
from jaxres.objectives.common import device_augment_settings, record_name
from jaxres.objectives import losses


class ClassificationObjective:
    target = "label"
    DEFAULTS = {
        "resize_ratio": 0.875,  # evaluation: the centre crop's share of the resized side (torchvision's 224/256)
        "label_smoothing": 0.0,
        "augment": {"rrc_scale": [0.08, 1.0], "rrc_ratio": [3 / 4, 4 / 3], "flip_prob": 0.5, "jitter": None,
                    "rotate": None, "scale": None, "translate": None},
        "topk": [1, 5],  # top-k accuracies reported (those up to the number of classes)
        "predict_format": "topk",  # predict's CSV: "topk" classes and probabilities, or "id_category"
        "predict_topk": 5,
    }

    def __init__(self, options: dict, facts: dict):
        self.options = options
        self.size = int(options["image_size"])
        self.channels = int(options["channels"])
        self.augment = device_augment_settings(options)
        self.loss_fn = losses.get("softmax_cross_entropy", label_smoothing=float(options["label_smoothing"]))
        self.classes: tuple[str, ...] = tuple(facts.get("classes") or ())

    @staticmethod
    def facts_of(train: Dataset) -> dict:
        return {"classes": list(train.classes or ())}

    def model_options(self) -> dict:
        return {"num_outputs": len(self.classes)}

    def example(self, record: Record, rng, train: bool) -> dict:
        if record.label is None:
            record = dataclasses.replace(record, label=-1)  # unlabelled prediction input
        augment = self.options["augment"]
        if train and any(augment[k] for k in ("rotate", "scale", "translate")):
            raise ConfigError("objective.augment.rotate/scale/translate run on the device only: unset them or "
                              "use data.pipeline=device")
        return transforms.classify_sample(
            record,
            rng,
            out_size=self.size,
            channels=self.channels,
            train=train,
            rrc_scale=tuple(augment["rrc_scale"]),
            rrc_ratio=tuple(augment["rrc_ratio"]),
            flip_prob=augment["flip_prob"],
            jitter=augment["jitter"],
            resize_ratio=self.options["resize_ratio"],
        )

    # --- the decode-once, augment-on-device path -------------------------------------------------

    def frame_spec(self) -> FrameSpec:
        """The whole image stretched onto a square (`framing.classification_side`)."""
        a = self.augment
        side = framing.classification_side(self.size, float(self.options["resize_ratio"]), a["area"][0],
                                           a["zoom"][1])
        return FrameSpec(side=side, channels=self.channels, settings={"kind": "classification"})

    def frame_of(self, record: Record, w: int, h: int) -> np.ndarray:
        return framing.stretched(w, h, self.frame_spec().side)

    def host_arrays(self, records, sizes: np.ndarray, train: bool) -> dict:
        """The evaluation frame in the cache ("frame"); for random crops the original-to-cache matrix and
        the original size; the label (-1 for unlabelled prediction inputs)."""
        side, ratio = self.frame_spec().side, float(self.options["resize_ratio"])
        cache = np.stack([framing.stretched(int(w), int(h), side) for w, h in sizes])
        base = np.stack([transforms.center_crop(int(w), int(h), self.size, ratio) for w, h in sizes])
        out = framed.frame_arrays(base, cache, train, **({"cache": cache, "size": np.asarray(sizes)} if train else {}))
        out["label"] = np.array([-1 if r.label is None else r.label for r in records], np.int32)
        return out

    def device_example(self, example: dict, key: jax.Array, train: bool) -> dict:
        """Random-resized crop, flip and affine (train) or the centre crop, resampled from the cached frame."""
        a, size = self.augment, self.size
        out = {k: v for k, v in example.items() if k not in ("frame", "cache", "size")}
        to_frame, k_colour = example["frame"], None
        if train:
            k_crop, k_flip, k_colour, k_affine = jax.random.split(key, 4)
            crop = dev.crop_matrix(dev.random_resized_crop(k_crop, example["size"], a["area"], a["ratio"]), size)
            crop = jnp.where(dev.random_flip(k_flip, a["flip_prob"]), dev.hflip(size) @ crop, crop)
            if a["rotate"] or a["zoom"] != (1.0, 1.0) or a["translate"]:
                crop = dev.random_affine(k_affine, size, a["rotate"], a["zoom"], a["translate"]) @ crop
            to_frame = example["cache"] @ jnp.linalg.inv(crop)
        out["image"] = dev.render(example["image"], to_frame, size, k_colour, a["jitter"])
        return out

    def loss(self, outputs, batch):
        return self.loss_fn(outputs, batch["label"])

    def decode(self, outputs: np.ndarray, batch: dict) -> np.ndarray:
        """Logits -> probabilities (N, C)."""
        z = outputs - outputs.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    # --- one photo at a time (jaxres.objectives.serving: the predictor and the exports) ----------------------

    output_name = "probabilities"
    needs_box = False

    def view(self, w, h, box, ops):
        return transforms.center_crop_view(w, h, self.size, float(self.options["resize_ratio"]), ops)

    def to_photo(self, outputs, view, ops):
        """Logits -> probabilities."""
        return ops.softmax(outputs)

    def served(self, prediction, ops):
        return prediction

    def truth(self, dataset: Dataset) -> np.ndarray:
        return np.array([r.label for r in dataset.records], np.int64)

    def evaluate(self, predictions: np.ndarray, dataset: Dataset) -> dict:
        true = self.truth(dataset)
        ks = [k for k in self.options["topk"] if k <= predictions.shape[1]]
        out = metrics.classification.summarize(predictions, true, ks=ks)
        confusion = metrics.confusion_matrix(true, predictions.argmax(-1), predictions.shape[1])
        out["per_class"] = metrics.classification.per_class_table(confusion, self.classes)  # -> per_class.csv
        return out

    def confusion(self, predictions: np.ndarray, dataset: Dataset) -> np.ndarray:
        return metrics.confusion_matrix(self.truth(dataset), predictions.argmax(-1), predictions.shape[1])

    def extra_pictures(self, folder, predictions: np.ndarray, dataset: Dataset) -> list:
        """The confusion matrix beside the prediction sheet."""
        path = folder / "confusion.png"
        viz.plot_confusion(self.confusion(predictions, dataset), list(self.classes), path)
        return [path]

    def baseline(self, train: Dataset, dataset: Dataset, matrices=None) -> dict:
        """Metrics of always predicting the majority training class."""
        majority = metrics.baselines.majority_class(self.truth(train))
        scores = np.zeros((len(dataset), len(self.classes)))
        scores[:, majority] = 1.0
        return {k: v for k, v in self.evaluate(scores, dataset).items() if k != "per_class"}

    def picture(self, record: Record, prediction: np.ndarray, canvas=None):
        from PIL import ImageDraw

        from jaxres.data.images import load_image

        image = viz.to_image(load_image(record.image, "RGB")).resize((160, 160))
        draw = ImageDraw.Draw(image)
        top = int(prediction.argmax())
        truth = "" if record.label is None or record.label < 0 else f" / true {self.classes[record.label]}"
        ok = record.label is None or record.label == top
        draw.rectangle((0, 0, 160, 14), fill=(0, 0, 0))
        label = f"{self.classes[top]} (p={prediction[top]:.2f}){truth}"  # "4 0.28" would read as 40.28
        draw.text((2, 1), label, fill=(0, 255, 0) if ok else (255, 64, 64))
        return image

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
