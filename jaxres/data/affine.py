"""The geometry, written once: 3×3 matrices from ORIGINAL-image to OUTPUT coordinates over an array
namespace `xp`, shared by the frame cache, device augmentation, predictor and exports.

Convention (Pillow's `Image.transform`): pixel column i covers [i, i + 1), a W-wide image spans [0, W],
a horizontal flip is x -> W - x."""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
from PIL import Image


def out_wh(out_size: int | Sequence[int]) -> tuple[int, int]:
    """(width, height) from an int (square) or a (width, height) pair."""
    if isinstance(out_size, (int, np.integer)):
        return int(out_size), int(out_size)
    w, h = out_size
    return int(w), int(h)


def _matrix(xp, *six):
    """[[a, b, c], [d, e, f], [0, 0, 1]] from six scalars (Python floats or 0-d arrays)."""
    a, b, c, d, e, f, zero, one = (xp.asarray(v) for v in (*six, 0.0, 1.0))
    return xp.stack([xp.stack([a, b, c]), xp.stack([d, e, f]), xp.stack([zero, zero, one])])


def translate(tx, ty, xp=np):
    return _matrix(xp, 1.0, 0.0, tx, 0.0, 1.0, ty)


def scale(sx, sy=None, xp=np):
    return _matrix(xp, sx, 0.0, 0.0, 0.0, sx if sy is None else sy, 0.0)


def rotate(degrees, xp=np):
    """Rotation about the origin; positive turns the picture counter-clockwise as seen on screen
    (y points down, so the x row has +sin)."""
    t = xp.deg2rad(xp.asarray(degrees))
    c, s = xp.cos(t), xp.sin(t)
    return _matrix(xp, c, s, 0.0, -s, c, 0.0)


def hflip(out_w: float, xp=np):
    """Mirror an out_w-wide frame left to right (keypoints also need a flip map, see flip_maps)."""
    return _matrix(xp, -1.0, 0.0, float(out_w), 0.0, 1.0, 0.0)


def compose(*matrices):
    """The matrix that applies `matrices` in the order given (first argument first)."""
    return functools.reduce(lambda out, m: m @ out, matrices)


def apply_points(points, matrix, xp=np):
    """Map (..., K, 2) points by (..., 3, 3) matrices (broadcast over the leading axes); NaN stays NaN."""
    points, matrix = xp.asarray(points), xp.asarray(matrix)
    return xp.einsum("...ij,...kj->...ki", matrix[..., :2, :2], points) + matrix[..., None, :2, 2]


def apply_box(box, matrix, xp=np):
    """Map (..., 4) boxes (x0, y0, x1, y1) as their four corners, back to their min/max extent: a flip
    keeps x0 <= x1, a rotation gives the box enclosing the turned box."""
    box = xp.asarray(box)
    x0, y0, x1, y1 = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    corners = xp.stack([xp.stack([x0, x1, x1, x0], -1), xp.stack([y0, y0, y1, y1], -1)], -1)
    pts = apply_points(corners, matrix, xp)
    return xp.concatenate([pts.min(-2), pts.max(-2)], -1)


# --- views: axis-aligned frames (sx, sy, tx, ty), output = s * original + t ------------------------
# Written over `xp` (numpy, jax.numpy or torch: maximum, minimum, floor, round, where), so the cache,
# the jitted predictor and the exported graphs frame a photo by the same formula.

def view_matrix(view) -> np.ndarray:
    """The 3x3 matrix of a view (sx, sy, tx, ty)."""
    sx, sy, tx, ty = (float(v) for v in view)
    return np.array([[sx, 0.0, tx], [0.0, sy, ty], [0.0, 0.0, 1.0]])


def box_view(box, out_size, margin: float = 0.25, xp=np):
    """A square crop centred on `box` (x0, y0, x1, y1), `margin` x its longer side added on every side;
    where the square leaves the image the resampler pads with black."""
    x0, y0, x1, y1 = box[0], box[1], box[2], box[3]
    ow, oh = out_wh(out_size)
    side = xp.maximum(xp.maximum(x1 - x0, y1 - y0), (x1 - x0) * 0 + 1.0) * (1.0 + 2.0 * margin)
    s = min(ow, oh) / side
    return s, s, ow / 2.0 - s * (x0 + x1) / 2.0, oh / 2.0 - s * (y0 + y1) / 2.0


def full_view(w, h, out_size, keep_aspect: bool = True, xp=np):
    """The whole w x h image into `out_size`: letterboxed (centred) or stretched."""
    ow, oh = out_wh(out_size)
    if not keep_aspect:
        return ow / w, oh / h, w * 0.0, h * 0.0
    s = xp.minimum(ow / w, oh / h)
    return s, s, (ow - s * w) / 2.0, (oh - s * h) / 2.0


def center_crop_view(w, h, out_size: int, resize_ratio: float = 0.875, xp=np):
    """torchvision's evaluation frame: shorter side to out_size / resize_ratio (the longer one truncated
    to whole pixels), then the central out_size square."""
    short = int(round(out_size / resize_ratio))
    wide = w > h
    nw = xp.where(wide, xp.floor(short * w / h), w * 0.0 + short)
    nh = xp.where(wide, h * 0.0 + short, xp.floor(short * h / w))
    return nw / w, nh / h, -xp.round((nw - out_size) / 2.0), -xp.round((nh - out_size) / 2.0)


def crop_to_box(box: Sequence[float], out_size, margin: float = 0.25) -> np.ndarray:
    """`box_view` as a matrix."""
    return view_matrix(box_view([float(v) for v in box], out_size, margin))


def resize_full(w: int, h: int, out_size, keep_aspect: bool = True) -> np.ndarray:
    """`full_view` as a matrix."""
    return view_matrix(full_view(float(w), float(h), out_size, keep_aspect))


def warp_image(image: np.ndarray, matrix: np.ndarray, out_size) -> np.ndarray:
    """Resample a uint8 (H, W, C) image through `matrix` into `out_size`, bilinear, black outside; a strong
    shrink first resizes with Pillow's antialiasing (exact in this convention), so thin strokes survive."""
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
    out = pil.transform(out_wh(out_size), Image.AFFINE, coeffs, resample=Image.BILINEAR,
                        fillcolor=0 if channels == 1 else (0, 0, 0))
    arr = np.asarray(out, np.uint8)
    return arr[:, :, None] if channels == 1 else arr
