"""Keypoint metrics in numpy on `pred`, `true` (N, K, 2) as (x, y) pixels; normalisers come from the truth.

A NaN true point is unlabelled and left out of every mean; a NaN prediction stays NaN, so divergence shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# 0-based indices in the 68-point iBUG / 300-W layout.
IBUG68_OUTER_EYE_CORNERS = (36, 45)
IBUG68_LEFT_EYE = tuple(range(36, 42))
IBUG68_RIGHT_EYE = tuple(range(42, 48))

AUC_THRESHOLD = 0.08  # the 300-W convention: AUC@0.08 and failure rate@0.08


def _points(pred, true) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 (N, K, 2), or a ValueError that says which shapes disagreed."""
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if true.ndim != 3 or true.shape[-1] != 2:
        raise ValueError(f"keypoints must have shape (N, K, 2); got true {true.shape}")
    if pred.shape != true.shape:
        raise ValueError(f"pred and true keypoints differ in shape: pred {pred.shape}, true {true.shape}")
    if true.shape[0] == 0 or true.shape[1] == 0:
        raise ValueError(f"no keypoints to score: shape {true.shape}")
    return pred, true


def _per_sample(value, n: int, name: str) -> np.ndarray:
    """A scalar or (N,) reference length as (N,) float64, all finite and > 0."""
    value = np.asarray(value, dtype=np.float64)
    value = np.full(n, float(value)) if value.ndim == 0 else value
    if value.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},); got {value.shape}")
    bad = np.flatnonzero(~(np.isfinite(value) & (value > 0)))
    if bad.size:
        raise ValueError(
            f"{name} must be finite and > 0; sample {int(bad[0])} has {value[bad[0]]!r} "
            f"({bad.size} bad of {n}: coincident reference points or an empty box?)"
        )
    return value


def point_errors(pred, true) -> np.ndarray:
    """Distance of every predicted point to its true point: (N, K) pixels, NaN where unlabelled."""
    pred, true = _points(pred, true)
    return np.linalg.norm(pred - true, axis=-1)


def labelled(true) -> np.ndarray:
    """(N, K) True where the true point is labelled (finite)."""
    return np.isfinite(np.asarray(true, dtype=np.float64)).all(axis=-1)


def _mean_labelled(errors: np.ndarray, mask: np.ndarray, axis=None) -> np.ndarray:
    """Mean of `errors` over the labelled entries (a NaN error at a labelled point propagates)."""
    return np.where(mask, errors, 0.0).sum(axis=axis) / np.maximum(mask.sum(axis=axis), 1)


def mean_point_error(pred, true) -> float:
    """Mean point-to-point distance in pixels over all samples and labelled points."""
    return float(_mean_labelled(point_errors(pred, true), labelled(true)))


# --- reference lengths (computed from the ground truth) -------------------------------------------

def inter_ocular(true, indices: Sequence[int] = IBUG68_OUTER_EYE_CORNERS) -> np.ndarray:
    """Distance between two reference points (default: outer eye corners 36 and 45): (N,)."""
    indices = [int(i) for i in indices]
    if len(indices) != 2:
        raise ValueError(f"expected 2 reference point indices; got {indices}")
    return inter_pupil(true, indices[:1], indices[1:])


def inter_pupil(true, left: Sequence[int] = IBUG68_LEFT_EYE,
                right: Sequence[int] = IBUG68_RIGHT_EYE) -> np.ndarray:
    """Distance between the centroids of two point groups (default: each eye's six contour points): (N,)."""
    true = np.asarray(true, dtype=np.float64)
    left, right = [int(i) for i in left], [int(i) for i in right]
    if true.ndim != 3 or true.shape[-1] != 2:
        raise ValueError(f"keypoints must have shape (N, K, 2); got {true.shape}")
    k = true.shape[1]
    out = [i for i in left + right if not -k <= i < k]
    if out:
        raise ValueError(f"reference point indices {out} out of range for {k} keypoints "
                         f"(the defaults are for the 68-point iBUG layout; pass indices for yours)")
    if not left or not right:
        raise ValueError("inter_pupil needs at least one index per eye")
    return np.linalg.norm(true[:, left].mean(axis=1) - true[:, right].mean(axis=1), axis=-1)


def image_diagonal(sizes, n: int | None = None) -> np.ndarray:
    """sqrt(W² + H²) of (W, H) rows (N, 2): (N,); one (W, H) gives a scalar, or (n,) copies given `n`."""
    sizes = np.asarray(sizes, dtype=np.float64)
    if sizes.shape == (2,):
        diagonal = np.hypot(sizes[0], sizes[1])
        return diagonal if n is None else np.full(n, diagonal)
    if sizes.ndim != 2 or sizes.shape[1] != 2:
        raise ValueError(f"image sizes must be (W, H) or have shape (N, 2); got {sizes.shape}")
    return np.hypot(sizes[:, 0], sizes[:, 1])


# --- normalised errors -------------------------------------------------------------------------

def nme(pred, true, norm) -> np.ndarray:
    """Per-sample mean point distance / `norm` (a scalar or (N,) length in pixels): (N,)."""
    errors = point_errors(pred, true)
    return _mean_labelled(errors, labelled(true), axis=1) / _per_sample(norm, errors.shape[0], "norm")


def nme_inter_ocular(pred, true, indices: Sequence[int] = IBUG68_OUTER_EYE_CORNERS) -> np.ndarray:
    """Per-sample NME normalised by the distance of the outer eye corners (300-W's main metric)."""
    return nme(pred, true, inter_ocular(_points(pred, true)[1], indices))


def nme_inter_pupil(pred, true, left: Sequence[int] = IBUG68_LEFT_EYE,
                    right: Sequence[int] = IBUG68_RIGHT_EYE) -> np.ndarray:
    """Per-sample NME normalised by the distance of the eye centres (older 300-W papers)."""
    return nme(pred, true, inter_pupil(_points(pred, true)[1], left, right))


def pck(pred, true, ref_length, alpha: float) -> float:
    """Share of points within `alpha * ref_length` (scalar or (N,)) pixels of the truth; ≤ counts."""
    if not alpha > 0:
        raise ValueError(f"PCK alpha must be > 0; got {alpha!r}")
    errors = point_errors(pred, true)
    ref = _per_sample(ref_length, errors.shape[0], "ref_length")
    return float(_mean_labelled(errors <= alpha * ref[:, None], labelled(true)))


# --- cumulative error distribution -------------------------------------------------------------

def _errors_1d(errors) -> np.ndarray:
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim != 1 or errors.size == 0:
        raise ValueError(f"per-sample errors must be a non-empty 1-D array; got shape {errors.shape}")
    if np.isnan(errors).any():
        raise ValueError("per-sample errors contain NaN")
    return errors


def ced(errors, threshold: float = AUC_THRESHOLD, num: int = 81) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: `num` thresholds in [0, threshold] and the share of samples
    whose error is ≤ each threshold. For plotting; `auc` integrates the exact step curve."""
    errors = np.sort(_errors_1d(errors))
    ts = np.linspace(0.0, threshold, num)
    return ts, np.searchsorted(errors, ts, side="right") / errors.size


def auc(errors, threshold: float = AUC_THRESHOLD) -> float:
    """Area under the CED from 0 to `threshold` / `threshold`, integrated exactly (the CED is a step function)."""
    if not threshold > 0:
        raise ValueError(f"AUC threshold must be > 0; got {threshold!r}")
    errors = _errors_1d(errors)
    return float(np.clip(1.0 - errors / threshold, 0.0, 1.0).mean())


def failure_rate(errors, threshold: float = AUC_THRESHOLD) -> float:
    """Share of samples whose error is above `threshold` (an error equal to it is not a failure)."""
    return float((_errors_1d(errors) > threshold).mean())

