"""Per-record sample makers: decode, one affine for pixels and targets, optional colour jitter.

Each maker returns the output image, its targets in output units, and the float32 3×3 `matrix` from
original-image pixels to output pixels, so metrics can be computed in original pixels by mapping
predictions back (`denormalise_keypoints`, `denormalise_box`). `train=False` is the deterministic
evaluation transform and draws nothing from `rng`.

The geometric primitives live in `affine`, the colour ones in `photometric`; they are re-exported
here so a task needs one import.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from jaxres.data.affine import (
    apply_box,
    apply_points,
    compose,
    crop_to_box,
    hflip,
    invert,
    random_affine,
    resize_full,
    scale,
    translate,
    view_matrix,
    warp_image,
)
from jaxres.data.flip_maps import check_flip_map
from jaxres.data.images import load_image
from jaxres.data.photometric import color_jitter, jitter_amounts
from jaxres.data.records import Record
from jaxres.errors import ConfigError, DataError


def load_record_image(record: Record, channels: int) -> np.ndarray:
    """The record's pixels (file or array) as uint8 (H, W, channels)."""
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, not {channels}")
    return load_image(record.image, "L" if channels == 1 else "RGB")


def _scale_range(value) -> tuple[float, float]:
    """A (lo, hi) pair, or one number a meaning (1 - a, 1 + a)."""
    if isinstance(value, (int, float)):
        return 1.0 - float(value), 1.0 + float(value)
    lo, hi = value
    return float(lo), float(hi)


def _augment(rng, matrix, out_size, *, rotate_deg, scale_range, translate_frac, flip_prob):
    """Training geometry after the base frame; returns (matrix, flipped). Fixed draw order."""
    half = out_size / 2.0
    aug = random_affine(rng, (half, half), rotate_deg, _scale_range(scale_range), translate_frac)
    flipped = bool(rng.random() < flip_prob)
    m = compose(matrix, aug, hflip(out_size)) if flipped else compose(matrix, aug)
    return m, flipped


def _jitter(rng, image, jitter):
    amounts = jitter_amounts(jitter)
    return color_jitter(rng, image, *amounts) if any(amounts) else image


def _keypoint_frame(record, crop, margin, w, h, out_size, keep_aspect):
    """The base matrix: a square around the record's box (or its keypoints), or the whole image."""
    if crop == "full":
        return resize_full(w, h, out_size, keep_aspect)
    if crop != "box":
        raise ConfigError(f"crop must be 'box' or 'full', not {crop!r}")
    box = record.box
    if box is None:  # no detector box: the keypoints' own extent stands in for it
        pts = np.asarray(record.keypoints, np.float64)
        box = (*np.nanmin(pts, 0), *np.nanmax(pts, 0))
    return crop_to_box(box, out_size, margin)


def keypoint_sample(
    record: Record,
    rng: np.random.Generator,
    *,
    out_size: int,
    channels: int = 3,
    crop: str = "full",
    margin: float = 0.25,
    rotate: float = 0.0,
    scale: float | Sequence[float] = (1.0, 1.0),
    translate: float = 0.0,
    flip_prob: float = 0.0,
    flip_map: Sequence[int] | None = None,
    jitter=None,
    train: bool = False,
    keep_aspect: bool = True,
) -> dict:
    """-> {"image": uint8 (S, S, C), "keypoints": float32 (K, 2) in [0, 1] of the output (points
    pushed out of the frame by augmentation fall outside and are kept), "matrix": float32 (3, 3)}.

    A flip also permutes the points with `flip_map`, so index i keeps its meaning (left eye stays
    the left eye of the flipped picture).
    """
    if record.keypoints is None:
        raise DataError("record has no keypoints", where=record.source)
    kp = np.asarray(record.keypoints, np.float64)
    if train and flip_prob > 0:
        if flip_map is None:
            raise ConfigError("flip_prob > 0 needs a flip_map (which keypoints swap when mirrored)")
        flip_map = check_flip_map(flip_map, len(kp))
    image = load_record_image(record, channels)
    h, w = image.shape[:2]
    m = _keypoint_frame(record, crop, margin, w, h, out_size, keep_aspect)
    flipped = False
    if train:
        m, flipped = _augment(rng, m, out_size, rotate_deg=rotate, scale_range=scale,
                              translate_frac=translate, flip_prob=flip_prob)
    pixels = warp_image(image, m, out_size)
    points = apply_points(kp, m)
    if flipped:
        points = points[flip_map]
    if train:
        pixels = _jitter(rng, pixels, jitter)
    return {"image": pixels, "keypoints": (points / out_size).astype(np.float32), "matrix": m.astype(np.float32)}


def denormalise_keypoints(pred01, matrix, out_size: int, flip_map=None) -> np.ndarray:
    """[0, 1] output-frame predictions (..., K, 2) -> original-image pixels (float64).

    Broadcasts over leading batch axes of `pred01` and `matrix`. Where a matrix mirrors (negative
    determinant) and `flip_map` is given, the labels are swapped back to the original's meaning.
    """
    m = np.asarray(matrix, np.float64)
    pts = apply_points(np.asarray(pred01, np.float64) * out_size, invert(m))
    if flip_map is not None:
        mirrored = np.linalg.det(m[..., :2, :2]) < 0
        pts = np.where(mirrored[..., None, None], pts[..., np.asarray(flip_map), :], pts)
    return pts


def box_sample(
    record: Record,
    rng: np.random.Generator,
    *,
    out_size: int,
    channels: int = 3,
    flip_prob: float = 0.0,
    scale: float | Sequence[float] = (1.0, 1.0),
    translate: float = 0.0,
    jitter=None,
    train: bool = False,
    keep_aspect: bool = True,
) -> dict:
    """-> {"image": uint8 (S, S, C), "box": float32 (x0, y0, x1, y1) in [0, 1], "matrix"}.

    The whole image is resized (letterboxed unless keep_aspect=False); training adds scale, shift
    and flip but never rotation, which would inflate the box. The box is clipped to the frame: the
    target is the part of the object one can see.
    """
    if record.box is None:
        raise DataError("record has no box", where=record.source)
    image = load_record_image(record, channels)
    h, w = image.shape[:2]
    m = resize_full(w, h, out_size, keep_aspect)
    if train:
        m, _ = _augment(rng, m, out_size, rotate_deg=0.0, scale_range=scale,
                        translate_frac=translate, flip_prob=flip_prob)
    pixels = warp_image(image, m, out_size)
    box = np.clip(apply_box(record.box, m), 0.0, out_size) / out_size
    if train:
        pixels = _jitter(rng, pixels, jitter)
    return {"image": pixels, "box": box.astype(np.float32), "matrix": m.astype(np.float32)}


def denormalise_box(box01, matrix, out_size: int) -> np.ndarray:
    """[0, 1] output-frame boxes (..., 4) -> original-image pixel corners (float64)."""
    return apply_box(np.asarray(box01, np.float64) * out_size, invert(matrix))


def random_resized_crop(rng, w, h, area_range=(0.08, 1.0), ratio_range=(3 / 4, 4 / 3)):
    """torchvision's RandomResizedCrop window (left, top, width, height): 10 tries, then centre."""
    area = w * h
    log_lo, log_hi = math.log(ratio_range[0]), math.log(ratio_range[1])
    for _ in range(10):
        target = area * rng.uniform(*area_range)
        ratio = math.exp(rng.uniform(log_lo, log_hi))
        cw = int(round(math.sqrt(target * ratio)))
        ch = int(round(math.sqrt(target / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1)), cw, ch
    ratio = w / h
    if ratio < ratio_range[0]:
        cw, ch = w, int(round(w / ratio_range[0]))
    elif ratio > ratio_range[1]:
        cw, ch = int(round(h * ratio_range[1])), h
    else:
        cw, ch = w, h
    return (w - cw) // 2, (h - ch) // 2, cw, ch


def center_crop_view(w, h, out_size: int, resize_ratio: float = 0.875, ops=np):
    """(sx, sy, tx, ty) of the evaluation frame: shorter side to out_size / resize_ratio (the longer
    one truncated to whole pixels), then the central out_size square. Array-generic like
    `affine.box_view`."""
    short = int(round(out_size / resize_ratio))
    wide = w > h
    nw = ops.where(wide, ops.floor(short * w / h), w * 0.0 + short)
    nh = ops.where(wide, h * 0.0 + short, ops.floor(short * h / w))
    return nw / w, nh / h, -ops.round((nw - out_size) / 2.0), -ops.round((nh - out_size) / 2.0)


def center_crop(w: int, h: int, out_size: int, resize_ratio: float = 0.875) -> np.ndarray:
    """`center_crop_view` as a matrix."""
    return view_matrix(center_crop_view(float(w), float(h), out_size, resize_ratio))


def classify_sample(
    record: Record,
    rng: np.random.Generator,
    *,
    out_size: int,
    train: bool = False,
    channels: int = 3,
    rrc_scale: Sequence[float] = (0.08, 1.0),
    rrc_ratio: Sequence[float] = (3 / 4, 4 / 3),
    flip_prob: float = 0.5,
    jitter=None,
    resize_ratio: float = 0.875,
) -> dict:
    """-> {"image": uint8 (S, S, C), "label": int32 scalar, "matrix": float32 (3, 3)}.

    Train: RandomResizedCrop + flip (+ jitter). Eval: resize the shorter side, centre crop.
    """
    if record.label is None:
        raise DataError("record has no label", where=record.source)
    image = load_record_image(record, channels)
    h, w = image.shape[:2]
    if train:
        left, top, cw, ch = random_resized_crop(rng, w, h, rrc_scale, rrc_ratio)
        m = compose(translate(-left, -top), scale(out_size / cw, out_size / ch))
        if rng.random() < flip_prob:
            m = compose(m, hflip(out_size))
    else:
        m = center_crop(w, h, out_size, resize_ratio)
    pixels = warp_image(image, m, out_size)
    if train:
        pixels = _jitter(rng, pixels, jitter)
    return {"image": pixels, "label": np.int32(record.label), "matrix": m.astype(np.float32)}
