"""What the splits of one run must share: one keypoint count, and labels mapped by class NAME onto the
training classes; a held-out validation share keeps each image's records on one side."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os

import numpy as np

from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError


def usual_point_count(dataset: Dataset) -> int | None:
    """The most common keypoint count of the set (the first record's on a tie); None without points."""
    counts = collections.Counter(c for r in dataset.records if (c := _count(r)) is not None)
    return counts.most_common(1)[0][0] if counts else None


def point_count_problem(record: Record, expected: int | None) -> str | None:
    count = _count(record)
    if expected is None or count is None or count == expected:
        return None
    return (f"{count} keypoints, but the other records of this data set have {expected} "
            "(one point count per data set: fix or remove this file)")


def check_same_points(dataset: Dataset, expected: int | None, split: str) -> None:
    """Every record of `dataset` (split `split`) has the `expected` (training) point count."""
    for record in dataset.records:
        count = _count(record)
        if expected is not None and count is not None and count != expected:
            raise DataError(f"{count} keypoints in the {split} split, but the model has {expected} "
                            "(every split needs the training point count)", where=record.source)


def align_classes(dataset: Dataset, classes, split: str) -> Dataset:
    """`dataset` with labels re-indexed by name onto `classes` (the model's); unchanged without classes."""
    if not classes or dataset.classes is None or tuple(dataset.classes) == tuple(classes):
        return dataset
    index = {str(name): i for i, name in enumerate(classes)}
    records = []
    for record in dataset.records:
        label = record.label
        if label is not None:
            known = isinstance(label, (int, np.integer)) and not isinstance(label, bool)
            name = str(dataset.classes[label]) if known and 0 <= label < len(dataset.classes) else f"<label {label!r}>"
            if name not in index:
                raise DataError(f"class {name!r} of the {split} split is not one of the model's {len(index)} classes "
                                f"({', '.join(list(index)[:8])}{', ...' if len(index) > 8 else ''})",
                                where=record.source)
            record = dataclasses.replace(record, label=index[name])
        records.append(record)
    return Dataset(records, classes=tuple(str(c) for c in classes), source=dataset.source)


def _count(record: Record) -> int | None:
    points = record.keypoints
    if points is None:
        return None
    shape = np.shape(points)
    return shape[0] if len(shape) == 2 and shape[1] == 2 else None


def hold_out(records, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, validation) sorted record indices: a seeded share `fraction` held out, all records of one
    image (file or equal pixels) on the same side."""
    order = np.random.default_rng([int(seed), 2024]).permutation(len(records))
    n_val = max(1, int(round(fraction * len(records))))
    groups = [_image_identity(r) for r in records]
    sizes = collections.Counter(groups)
    side: dict = {}
    held = 0
    for i in order:
        if groups[i] not in side:
            side[groups[i]] = held < n_val
            held += sizes[groups[i]] if side[groups[i]] else 0
    val = [i for i in range(len(records)) if side[groups[i]]]
    return [i for i in range(len(records)) if not side[groups[i]]], val


def repeated_records(train: Dataset, other: Dataset) -> list[tuple[Record, Record]]:
    """(record of `other`, the training record it repeats) pairs: the same image (one file, or equal
    pixels) with the same box, as when a data set's own val file copies a training row."""
    def key(record: Record):
        box = None if record.box is None else tuple(np.round(np.asarray(record.box, np.float64), 3).tolist())
        return _image_identity(record), box

    seen: dict = {}
    for record in train.records:
        seen.setdefault(key(record), record)
    return [(record, seen[k]) for record in other.records if (k := key(record)) in seen]


def _image_identity(record: Record):
    if isinstance(record.image, np.ndarray):
        return hashlib.blake2b(np.ascontiguousarray(record.image).tobytes(), digest_size=16).hexdigest()
    return os.path.abspath(os.fspath(record.image))
