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
    """The `augment` keys that are set, as keyword arguments of the host transforms (none when evaluating)."""
    return {k: v for k, v in options["augment"].items() if v is not None} if train else {}


def device_augment_settings(options: dict) -> dict:
    """The `augment` section parsed once for the device path: rotate (degrees), zoom (lo, hi),
    translate (fraction of the frame), flip_prob, jitter (brightness, contrast, saturation), and the
    random-resized crop's area and ratio ranges (None or absent: off)."""
    augment = options["augment"]
    return {"rotate": float(augment.get("rotate") or 0.0), "zoom": framing.scale_range(augment.get("scale") or 0.0),
            "translate": float(augment.get("translate") or 0.0), "flip_prob": float(augment.get("flip_prob") or 0.0),
            "jitter": jitter_amounts(augment.get("jitter")),
            "area": tuple(float(v) for v in augment.get("rrc_scale") or (1.0, 1.0)),
            "ratio": tuple(float(v) for v in augment.get("rrc_ratio") or (1.0, 1.0))}


_BASELINE_SAMPLE = 512  # training records the mean target is taken over (a seeded sample of big sets)


def baseline_sample(train: Dataset) -> tuple[list[Record], np.ndarray]:
    """(records, (w, h) sizes) of a seeded sample of the training set: sizes from the headers only."""
    pick = np.random.default_rng(0).permutation(len(train))[:_BASELINE_SAMPLE]
    records = [train.records[i] for i in sorted(pick)]
    return records, np.array([record_size(r) for r in records], np.int64)


def mean_target_outputs(train_targets01: np.ndarray, matrices: np.ndarray) -> tuple[np.ndarray, dict]:
    """(outputs, batch) of the trivial regression predictor: the mean training target, in the network's
    input frame, as the network's outputs for every image; the kind decodes and judges them like its own."""
    mean01 = baselines.mean_target(train_targets01)
    return np.broadcast_to(mean01, (len(matrices),) + mean01.shape), {"matrix": matrices}
