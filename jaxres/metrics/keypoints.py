"""Keypoint and landmark metrics, in numpy, on coordinates in pixels.

Every function takes `pred` and `true` of shape (N, K, 2) holding (x, y) in pixels of the image the
points belong to. Errors are computed in pixels first and only then divided by a per-sample
reference length (inter-ocular distance, box size, image diagonal), so that the same errors feed NME,
PCK and the CED/AUC/failure-rate triple that 300-W papers report.

The normaliser always comes from the ground truth: a prediction must not be able to shrink its own
error by moving the eyes together. A true point that is NaN is unlabelled (COCO visibility 0): it is
left out of every mean; a NaN prediction at a labelled point stays NaN, so a diverged model shows.
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
    if value.ndim == 0:
        value = np.full(n, float(value))
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
    """Euclidean distance of every predicted point to its true point: (N, K), in pixels (NaN where
    the true point is unlabelled)."""
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
    true = np.asarray(true, dtype=np.float64)
    a, b = _check_indices(true, indices, count=2)
    return np.linalg.norm(true[:, a] - true[:, b], axis=-1)


def inter_pupil(true, left: Sequence[int] = IBUG68_LEFT_EYE,
                right: Sequence[int] = IBUG68_RIGHT_EYE) -> np.ndarray:
    """Distance between the centroids of two point groups (default: the two eyes' six points): (N,).

    300-W has no pupil annotation; the pupil is taken as the mean of each eye's contour points.
    """
    true = np.asarray(true, dtype=np.float64)
    left, right = list(left), list(right)
    _check_indices(true, left + right, count=None)
    if not left or not right:
        raise ValueError("inter_pupil needs at least one index per eye")
    return np.linalg.norm(true[:, left].mean(axis=1) - true[:, right].mean(axis=1), axis=-1)


def box_size(boxes) -> np.ndarray:
    """sqrt(width * height) of corner boxes (N, 4) = (x0, y0, x1, y1): the usual face-box normaliser."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as (x0, y0, x1, y1); got {boxes.shape}")
    w = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    h = np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    return np.sqrt(w * h)


def image_diagonal(sizes, n: int | None = None) -> np.ndarray:
    """sqrt(W² + H²) of image sizes (N, 2) as (W, H) rows: (N,).

    One size (W, H) gives a scalar, or (n,) copies when `n` is given.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    if sizes.shape == (2,):
        diagonal = np.hypot(sizes[0], sizes[1])
        return diagonal if n is None else np.full(n, diagonal)
    if sizes.ndim != 2 or sizes.shape[1] != 2:
        raise ValueError(f"image sizes must be (W, H) or have shape (N, 2); got {sizes.shape}")
    return np.hypot(sizes[:, 0], sizes[:, 1])


def _check_indices(true: np.ndarray, indices, count: int | None):
    if true.ndim != 3 or true.shape[-1] != 2:
        raise ValueError(f"keypoints must have shape (N, K, 2); got {true.shape}")
    indices = [int(i) for i in indices]
    if count is not None and len(indices) != count:
        raise ValueError(f"expected {count} reference point indices; got {indices}")
    k = true.shape[1]
    out = [i for i in indices if not -k <= i < k]
    if out:
        raise ValueError(f"reference point indices {out} out of range for {k} keypoints "
                         f"(the defaults are for the 68-point iBUG layout; pass indices for yours)")
    return indices


# --- normalised errors -------------------------------------------------------------------------

def nme(pred, true, norm) -> np.ndarray:
    """Per-sample normalised mean error: mean point distance / norm, shape (N,).

    `norm` is a scalar or (N,) reference length in pixels, e.g. `inter_ocular(true)`.
    """
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
    """Share of points within `alpha * ref_length` pixels of the truth (≤ counts as correct).

    `ref_length` is a scalar or (N,), e.g. `image_diagonal((224, 224), n)` for the T-shirt task.
    """
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
    """Area under the CED from 0 to `threshold`, divided by `threshold` (1.0 = every error is 0).

    The CED is a step function, so the integral is exact: each sample contributes
    max(0, threshold - e) / threshold. Papers that integrate on a grid (e.g. step 1e-4) agree to
    about the grid step.
    """
    if not threshold > 0:
        raise ValueError(f"AUC threshold must be > 0; got {threshold!r}")
    errors = _errors_1d(errors)
    return float(np.clip(1.0 - errors / threshold, 0.0, 1.0).mean())


def failure_rate(errors, threshold: float = AUC_THRESHOLD) -> float:
    """Share of samples whose error is above `threshold` (an error equal to it is not a failure)."""
    return float((_errors_1d(errors) > threshold).mean())


def summarize(errors, threshold: float = AUC_THRESHOLD) -> dict[str, float]:
    """NME, AUC@threshold and failure rate@threshold of per-sample normalised errors."""
    errors = _errors_1d(errors)
    return {
        "nme": float(errors.mean()),
        f"auc@{threshold:g}": auc(errors, threshold),
        f"fr@{threshold:g}": failure_rate(errors, threshold),
        "count": int(errors.size),
    }


def by_subset(errors, subsets, threshold: float = AUC_THRESHOLD,
              full: str | None = "full") -> dict[str, dict[str, float]]:
    """`summarize` per subset name, plus `full` over all samples (300-W: common, challenging, full).

    `subsets` gives each sample's subset name. Set `full=None` to leave out the overall group.
    """
    errors = _errors_1d(errors)
    subsets = np.asarray(subsets)
    if subsets.shape != errors.shape:
        raise ValueError(f"subsets must name each of the {errors.size} samples; got shape {subsets.shape}")
    names = list(dict.fromkeys(subsets.tolist()))  # first-seen order, so reports read as the data
    if full is not None and full in names:
        raise ValueError(f"a subset is named {full!r}, which is the name of the overall group; "
                         f"rename it or pass full=<another name>")
    report = {str(name): summarize(errors[subsets == name], threshold) for name in names}
    if full is not None:
        report[full] = summarize(errors, threshold)
    return report
