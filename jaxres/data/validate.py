"""A pass over a data set before training, so bad data fails in seconds: image headers, keypoints
finite and within `max_outside` x the image's side of it, one keypoint count, boxes, labels;
`skip_bad=True` drops and describes bad records instead of raising."""

from __future__ import annotations

from typing import Callable

import numpy as np

from jaxres.data.consistency import point_count_problem, usual_point_count
from jaxres.data.images import image_size, load_image
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError


def validate(dataset: Dataset, *, check_images: bool = True, full_decode: bool = False, max_outside: float = 0.5,
             skip_bad: bool = False, tick: Callable[[], None] = lambda: None) -> tuple[Dataset, list[str]]:
    """(the good records as a Dataset, "file:row: reason" per bad record); `tick` is called after each."""
    if len(dataset) == 0:
        raise DataError("the data set has no records", where=dataset.source or "<dataset>")
    sizes: dict[str, tuple[int, int] | str] = {}  # per call only: path -> (w, h) or the read error
    points = usual_point_count(dataset)
    good, bad = [], []
    for record in dataset.records:
        reason = _problem(record, dataset.classes, sizes, check_images, full_decode, max_outside)
        reason = reason or point_count_problem(record, points)
        tick()
        if reason is None:
            good.append(record)
        else:
            bad.append((record.source, reason))
    if bad and not skip_bad:
        source, reason = bad[0]
        more = f" (and {len(bad) - 1} more bad records; skip_bad=True drops them)" if len(bad) > 1 else ""
        raise DataError(reason + more, where=source)
    lines = [f"{source}: {reason}" for source, reason in bad]
    if not good:
        raise DataError(f"all {len(bad)} records are bad; the first: {lines[0]}", where=dataset.source or "<dataset>")
    return Dataset(good, classes=dataset.classes, source=dataset.source), lines


def _problem(record: Record, classes, sizes: dict, check_images: bool, full_decode: bool, max_outside: float):
    """The reason the record is unusable, or None."""
    size = _size(record.image, sizes, check_images, full_decode)
    if isinstance(size, str):
        return size
    return (_keypoint_problem(record, size, max_outside) or _box_problem(record, size, max_outside)
            or _label_problem(record.label, classes))


def _size(image, sizes: dict, check_images: bool, full_decode: bool):
    """(w, h), None when unknown (images not checked), or an error string."""
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
            return f"image array has shape {image.shape}, expected (H, W[, C])"
        return image.shape[1], image.shape[0]
    if not check_images:
        return None
    path = str(image)
    if path not in sizes:
        try:
            sizes[path] = load_image(path).shape[1::-1] if full_decode else image_size(path)
        except DataError as err:
            sizes[path] = f"image {path}: {err.message}"
    return sizes[path]


def _keypoint_problem(record: Record, size, max_outside: float):
    if record.keypoints is None:
        return None
    points = _floats(record.keypoints)
    if points is None or points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        return f"keypoints must be a (K, 2) array of numbers, got {np.shape(record.keypoints)}"
    bad = np.flatnonzero(~np.isfinite(points).all(axis=1) & ~_unlabelled(record, points))
    if bad.size:
        return f"keypoint {bad[0]} is {points[bad[0]].tolist()} (not finite)"
    return _outside(points, size, max_outside, "keypoint")  # NaN compares False: never "outside"


def _unlabelled(record: Record, points: np.ndarray) -> np.ndarray:
    """(K,) True where the annotation says the point is not labelled (COCO visibility 0, read as
    NaN); only those may be NaN: a NaN elsewhere is a broken value, not a missing point."""
    visibility = record.meta.get("visibility") if isinstance(record.meta, dict) else None
    if visibility is None or np.shape(visibility) != (len(points),):
        return np.zeros(len(points), bool)
    return (np.asarray(visibility) == 0) & np.isnan(points).all(axis=1)


def _box_problem(record: Record, size, max_outside: float):
    if record.box is None:
        return None
    box = _floats(record.box)
    if box is None or box.shape != (4,):
        return f"box must be 4 numbers (x0, y0, x1, y1), got shape {np.shape(record.box)}"
    if not np.isfinite(box).all():
        return f"box {box.tolist()} is not finite"
    if box[2] <= box[0] or box[3] <= box[1]:
        width, height = box[2] - box[0], box[3] - box[1]
        return f"box {box.tolist()} has width {width:g} and height {height:g}; both must be positive"
    outside = _outside(box.reshape(2, 2), size, max_outside, "box corner")
    if outside or size is None:
        return outside
    if box[0] >= size[0] or box[1] >= size[1] or box[2] <= 0 or box[3] <= 0:  # frames nothing the model could see
        return f"box {box.tolist()} does not overlap the {size[0]}x{size[1]} image (wrong units or columns?)"
    return None


def _outside(points: np.ndarray, size, max_outside: float, what: str):
    if size is None:
        return None
    w, h = size
    low = -max_outside * np.asarray([w, h])
    high = np.asarray([w, h]) * (1 + max_outside)
    far = np.flatnonzero(((points < low) | (points > high)).any(axis=1))
    if far.size:
        x, y = points[far[0]]
        return (
            f"{what} {far[0]} at ({x:g}, {y:g}) is more than {max_outside:g} x the image size outside the "
            f"{w}x{h} image (wrong units or columns?)"
        )
    return None


def _label_problem(label, classes):
    if label is None:
        return None
    if not isinstance(label, (int, np.integer)) or isinstance(label, bool):
        return f"label {label!r} is not an integer class index"
    if classes is not None and not 0 <= label < len(classes):
        return f"label {label} is outside the {len(classes)} classes"
    if label < 0:
        return f"label {label} is negative"
    return None


def _floats(values):
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
