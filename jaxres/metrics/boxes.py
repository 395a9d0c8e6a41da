"""Box metrics in numpy on corner boxes (x0, y0, x1, y1) in pixels.

An inverted or empty box has IoU 0 with anything, never NaN, so one bad prediction cannot poison the mean.
"""

from __future__ import annotations

import numpy as np


def _boxes(pred, true) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 (N, 4), or a ValueError naming the shapes."""
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if true.ndim != 2 or true.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as (x0, y0, x1, y1); got true {true.shape}")
    if pred.shape != true.shape:
        raise ValueError(f"pred and true boxes differ in shape: pred {pred.shape}, true {true.shape}")
    if true.shape[0] == 0:
        raise ValueError("no boxes to score (N = 0)")
    return pred, true


def area(boxes) -> np.ndarray:
    """Area of corner boxes (N, 4); inverted sides count as zero extent."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return _extent(boxes[..., 2] - boxes[..., 0]) * _extent(boxes[..., 3] - boxes[..., 1])


def _extent(side: np.ndarray) -> np.ndarray:
    # NaN coordinates fall to 0 too: a NaN box overlaps nothing.
    return np.nan_to_num(np.clip(side, 0.0, None), nan=0.0, posinf=0.0)


def iou(pred, true) -> np.ndarray:
    """Intersection over union of each predicted box with its true box: (N,), in [0, 1]."""
    pred, true = _boxes(pred, true)
    inter_w = _extent(np.minimum(pred[:, 2], true[:, 2]) - np.maximum(pred[:, 0], true[:, 0]))
    inter_h = _extent(np.minimum(pred[:, 3], true[:, 3]) - np.maximum(pred[:, 1], true[:, 1]))
    inter = inter_w * inter_h
    union = area(pred) + area(true) - inter
    out = np.zeros_like(union)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def mean_iou(pred, true) -> float:
    """Mean IoU over the samples."""
    return float(iou(pred, true).mean())


def mean_abs_error(pred, true) -> float:
    """Mean absolute coordinate error in pixels, over all four coordinates of all boxes."""
    pred, true = _boxes(pred, true)
    return float(np.abs(pred - true).mean())


def summarize(pred, true) -> dict[str, float]:
    """Mean IoU, IoU ≥ 0.5 and ≥ 0.75 shares, and mean absolute error (px) in one dict."""
    ious = iou(pred, true)
    return {
        "mean_iou": float(ious.mean()),
        "iou@0.5": float((ious >= 0.5).mean()),
        "iou@0.75": float((ious >= 0.75).mean()),
        "mae_px": mean_abs_error(pred, true),
        "count": int(ious.size),
    }
