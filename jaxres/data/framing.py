"""The geometry of the decode-once frames: each cached frame holds the part of the image any augmented
output can show, at 1 to 4/3 cache pixels per output pixel so bilinear sampling neither loses detail
nor aliases. Matrices map original pixels to frame pixels."""

from __future__ import annotations

import math

import numpy as np

from jaxres.data.affine import compose, crop_to_box, resize_full, scale, translate

_MAX_SHRINK = 4.0 / 3.0  # cache pixels per output pixel beyond which bilinear sampling aliases


def scale_range(value) -> tuple[float, float]:
    """A (lo, hi) pair, or one number a meaning (1 - a, 1 + a)."""
    if isinstance(value, (int, float)):
        return 1.0 - float(value), 1.0 + float(value)
    lo, hi = value
    return float(lo), float(hi)


def density(zoom: tuple[float, float]) -> float:
    """Cache pixels per output pixel: the largest zoom-in, capped where the largest zoom-out aliases."""
    lo, hi = zoom
    return max(1.0, min(hi, lo * _MAX_SHRINK))


def reach(rotate_deg: float, zoom: tuple[float, float], translate_frac: float) -> float:
    """Side of the square (in output frames) around the output's centre that an augmented output can
    show: the output square mapped back through the largest zoom-out, rotation and shift."""
    t = math.radians(abs(rotate_deg))
    turn = abs(math.cos(t)) + abs(math.sin(t)) if rotate_deg else 1.0
    return (1.0 + 2.0 * abs(translate_frac)) * turn / zoom[0]


def box_crop_side(out_size: int, rotate_deg: float, zoom, translate_frac: float) -> int:
    return int(math.ceil(out_size * reach(rotate_deg, zoom, translate_frac) * density(zoom)))


def box_crop(box, out_size: int, margin: float, side: int, per_output_pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """(base, frame): the output's square around `box` (as `affine.crop_to_box`), and the cached
    frame: the same centre, `per_output_pixel` cache pixels per output pixel, `side` pixels wide."""
    base = crop_to_box(box, out_size, margin)
    return base, compose(base, translate(-out_size / 2.0, -out_size / 2.0), scale(per_output_pixel),
                         translate(side / 2.0, side / 2.0))


def whole_side(out_size: int, zoom) -> int:
    return int(math.ceil(out_size * density(zoom)))


def whole(w: int, h: int, out_size: int, keep_aspect: bool, side: int) -> tuple[np.ndarray, np.ndarray]:
    """(base, frame): the whole image into the output (letterboxed unless keep_aspect=False) and stretched
    over the cached frame, so the output's letterbox edge stays sharp."""
    return resize_full(w, h, out_size, keep_aspect), stretched(w, h, side)


_MAX_CLASSIFICATION_SCALE = 1.5


def classification_side(out_size: int, resize_ratio: float, min_area: float, max_zoom: float = 1.0) -> int:
    """Pixels enough for the evaluation resize and the smallest random crop without upsampling, capped
    at 1.5 × out."""
    crop = min(max(max_zoom, 1.0) / math.sqrt(max(min_area, 1e-6)), _MAX_CLASSIFICATION_SCALE)
    return int(math.ceil(out_size * max(1.0 / resize_ratio, crop)))


def stretched(w: int, h: int, side: int) -> np.ndarray:
    """The whole image stretched onto a side×side frame (its matrix keeps the aspect exactly)."""
    return scale(side / w, side / h)
