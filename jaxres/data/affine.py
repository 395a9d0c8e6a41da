"""One 3×3 affine per sample, shared by the pixels and the targets, so they can never disagree.

Coordinate convention (the one Pillow's `Image.transform` and torchvision's resize use): pixel
column i covers [i, i + 1), its centre is i + 0.5, and a W-wide image spans [0, W]. Under it a resize
is a pure scale, a horizontal flip is x -> W - x, and a box (x, y, w, h) has its edges at x and x + w.
Records keep their annotations as they were written; a point annotated on pixel index i therefore
reads as that pixel's left edge, half a pixel that a round trip (map, predict, map back) cancels.

Every matrix maps ORIGINAL-image coordinates to OUTPUT coordinates; compose them in the order they
apply with `compose`, and take a prediction back with `invert`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image


def out_wh(out_size: int | Sequence[int]) -> tuple[int, int]:
    """(width, height) from an int (square) or a (width, height) pair."""
    if isinstance(out_size, (int, np.integer)):
        return int(out_size), int(out_size)
    w, h = out_size
    return int(w), int(h)


def translate(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def scale(sx: float, sy: float | None = None) -> np.ndarray:
    return np.diag([sx, sx if sy is None else sy, 1.0])


def rotate(degrees: float) -> np.ndarray:
    """Rotation about the origin; positive turns the picture counter-clockwise as seen on screen."""
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    # y points down on screen, so a counter-clockwise turn on screen has +sin in the x row.
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def compose(*matrices: np.ndarray) -> np.ndarray:
    """The matrix that applies `matrices` in the order given (first argument first)."""
    out = np.eye(3)
    for m in matrices:
        out = np.asarray(m, np.float64) @ out
    return out


def invert(matrix: np.ndarray) -> np.ndarray:
    """Output -> original coordinates (float64, whatever the input precision)."""
    return np.linalg.inv(np.asarray(matrix, np.float64))


def apply_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (..., K, 2) points by (..., 3, 3) matrices (broadcast over the leading axes).

    NaN points (missing landmarks) stay NaN. Returns float64.
    """
    p = np.asarray(points, np.float64)
    m = np.asarray(matrix, np.float64)
    return np.einsum("...ij,...kj->...ki", m[..., :2, :2], p) + m[..., None, :2, 2]


def box_corners(box: np.ndarray) -> np.ndarray:
    """(..., 4) boxes (x0, y0, x1, y1) -> (..., 4, 2) corner points."""
    b = np.asarray(box, np.float64)
    x0, y0, x1, y1 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    xs = np.stack([x0, x1, x1, x0], -1)
    ys = np.stack([y0, y0, y1, y1], -1)
    return np.stack([xs, ys], -1)


def apply_box(box: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (..., 4) boxes as their four corners, back to (x0, y0, x1, y1) as min/max.

    A flip therefore keeps x0 <= x1; a rotation returns the box that encloses the turned box.
    """
    pts = apply_points(box_corners(box), matrix)
    return np.concatenate([pts.min(-2), pts.max(-2)], -1)


def view_matrix(view) -> np.ndarray:
    """The 3x3 matrix of a view (sx, sy, tx, ty): output = s * original + t."""
    sx, sy, tx, ty = (float(v) for v in view)
    return np.array([[sx, 0.0, tx], [0.0, sy, ty], [0.0, 0.0, 1.0]])


def box_view(box, out_size, margin: float = 0.25, ops=np):
    """(sx, sy, tx, ty) of a square crop centred on `box` (x0, y0, x1, y1), `margin` x its longer side
    added on every side, to `out_size`. Written once for numpy, jax.numpy and torch (`ops`: the
    array namespace, see `jaxres.objectives.serving.Ops`), so the host, the jitted predictor and the exported
    graphs frame a photo by the same formula."""
    x0, y0, x1, y1 = box[0], box[1], box[2], box[3]
    ow, oh = out_wh(out_size)
    side = ops.maximum(ops.maximum(x1 - x0, y1 - y0), (x1 - x0) * 0 + 1.0) * (1.0 + 2.0 * margin)
    s = min(ow, oh) / side
    return s, s, ow / 2.0 - s * (x0 + x1) / 2.0, oh / 2.0 - s * (y0 + y1) / 2.0


def full_view(w, h, out_size, keep_aspect: bool = True, ops=np):
    """(sx, sy, tx, ty) of the whole w x h image into `out_size`: letterboxed (centred) or stretched."""
    ow, oh = out_wh(out_size)
    if not keep_aspect:
        return ow / w, oh / h, w * 0.0, h * 0.0
    s = ops.minimum(ow / w, oh / h)
    return s, s, (ow - s * w) / 2.0, (oh - s * h) / 2.0


def crop_to_box(box: Sequence[float], out_size, margin: float = 0.25) -> np.ndarray:
    """`box_view` as a matrix. The square keeps the aspect; where it leaves the image, `warp_image`
    pads with its fill."""
    return view_matrix(box_view([float(v) for v in box], out_size, margin))


def resize_full(w: int, h: int, out_size, keep_aspect: bool = True) -> np.ndarray:
    """`full_view` as a matrix."""
    return view_matrix(full_view(float(w), float(h), out_size, keep_aspect))


def hflip(out_w: float) -> np.ndarray:
    """Mirror an out_w-wide frame left to right (keypoints also need a flip map, see flip_maps)."""
    return np.array([[-1.0, 0.0, float(out_w)], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def random_affine(
    rng: np.random.Generator,
    center: Sequence[float],
    rotate_deg: float = 0.0,
    scale_range: Sequence[float] = (1.0, 1.0),
    translate_frac: float = 0.0,
    extent: float | None = None,
) -> np.ndarray:
    """Rotate ±rotate_deg and scale within scale_range about `center`, then shift ±translate_frac.

    The shift is a fraction of `extent` (default: 2 × the larger centre coordinate, i.e. the frame
    size when `center` is the frame centre). Always draws the same four numbers, in the same order,
    so a seed gives the same sample whatever the settings.
    """
    cx, cy = (float(v) for v in center)
    extent = 2.0 * max(cx, cy) if extent is None else float(extent)
    angle = rng.uniform(-1.0, 1.0) * rotate_deg
    lo, hi = scale_range
    # Uniform in log scale, so zooming in and out by the same factor is equally likely.
    s = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    tx, ty = rng.uniform(-1.0, 1.0, size=2) * translate_frac * extent
    return compose(translate(-cx, -cy), rotate(angle), scale(s), translate(cx + tx, cy + ty))


def warp_image(image: np.ndarray, matrix: np.ndarray, out_size, fill: int = 0) -> np.ndarray:
    """Resample a uint8 (H, W, C) image (C = 1 or 3) through `matrix` into `out_size`, bilinear.

    A strong shrink first resizes the whole image with Pillow's antialiasing filter to about the
    output scale: bilinear sampling alone reads 4 pixels per output pixel and aliases (thin sketch
    strokes would vanish). The resize is exact in this module's convention, so targets still agree.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    pil = Image.fromarray(img[:, :, 0] if channels == 1 else img)
    m = np.asarray(matrix, np.float64)
    (w, h), (sx, sy) = pil.size, np.linalg.norm(m[:2, :2], axis=0)  # how much each input axis shrinks
    nw, nh = (max(1, round(n * s)) if s < 0.75 else n for n, s in ((w, sx), (h, sy)))
    if (nw, nh) != (w, h):
        pil = pil.resize((nw, nh), Image.BILINEAR)
        m = m @ np.diag([w / nw, h / nh, 1.0])  # resized pixel x covers original [x w/nw, (x+1) w/nw)
    coeffs = tuple(np.linalg.inv(m)[:2].reshape(-1))
    fillcolor = fill if channels == 1 else (fill,) * 3
    out = pil.transform(out_wh(out_size), Image.AFFINE, coeffs, resample=Image.BILINEAR, fillcolor=fillcolor)
    arr = np.asarray(out, np.uint8)
    return arr[:, :, None] if channels == 1 else arr
