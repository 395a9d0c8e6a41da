"""Pieces every objective shares: record sizes, augmentation options, masked losses."""

from __future__ import annotations

import os

import numpy as np

from jaxres.data import framing
from jaxres.data.photometric import jitter_amounts
from jaxres.data.records import Dataset, Record
from jaxres.metrics import baselines


def record_size(record: Record) -> tuple[int, int]:
    """(width, height) of the record's original image, from the array or the file header."""
    if isinstance(record.image, np.ndarray):
        return int(record.image.shape[1]), int(record.image.shape[0])
    from jaxres.data.images import image_size

    return image_size(record.image)


def record_name(record: Record) -> str:
    if "id" in record.meta:
        return str(record.meta["id"])
    if isinstance(record.image, (str, os.PathLike)):
        return os.path.basename(str(record.image))
    return record.source


def augment_options(options: dict, train: bool) -> dict:
    """The `augment` section as keyword arguments of the transforms (nothing when evaluating)."""
    augment = dict(options.get("augment", {}))
    return augment if train else {}


def device_augment_settings(options: dict, flip_prob: float = 0.0) -> dict:
    """The `augment` section parsed once for the device path: rotate (degrees), zoom (lo, hi),
    translate (fraction of the frame), flip_prob, jitter (brightness, contrast, saturation), and the
    random-resized crop's area and ratio ranges. `flip_prob` is the kind's default."""
    augment = options.get("augment") or {}
    return {"rotate": float(augment.get("rotate") or 0.0), "zoom": framing.scale_range(augment.get("scale") or 0.0),
            "translate": float(augment.get("translate") or 0.0),
            "flip_prob": float(augment.get("flip_prob", flip_prob) or 0.0), "jitter": jitter_amounts(augment.get("jitter")),
            "area": tuple(float(v) for v in augment.get("rrc_scale", (0.08, 1.0))),
            "ratio": tuple(float(v) for v in augment.get("rrc_ratio", (3 / 4, 4 / 3)))}


_BASELINE_SAMPLE = 512  # training records the mean target is taken over (a seeded sample of big sets)


def baseline_sample(train: Dataset) -> tuple[list[Record], np.ndarray]:
    """(records, (w, h) sizes) of a seeded sample of the training set: sizes from the headers only."""
    pick = np.random.default_rng(0).permutation(len(train))[:_BASELINE_SAMPLE]
    records = [train.records[i] for i in sorted(pick)]
    return records, np.array([record_size(r) for r in records], np.int64)


def mean_target_baseline(objective, dataset: Dataset, train_targets01: np.ndarray, matrices: np.ndarray) -> dict:
    """The trivial baseline of a regression objective: the mean training target, in the network's input
    frame, predicted for every image and mapped back to its original pixels like a real prediction."""
    mean01 = baselines.mean_target(train_targets01)
    constant = np.broadcast_to(mean01, (len(matrices),) + mean01.shape)
    return objective.evaluate(objective.decode(constant, {"matrix": matrices}), dataset)
