"""Classification metrics in numpy on class indices 0 … C-1; per-class ones take the confusion matrix.

F1 matches scikit-learn's defaults: only classes in y_true ∪ y_pred count, undefined ratios are 0
(`zero_division=0`), macro is the plain mean and weighted the support-weighted mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _labels(y, name: str) -> np.ndarray:
    """1-D array of non-negative integer class indices, or a ValueError that says what is wrong."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices; got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not (np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0)):
            raise ValueError(f"{name} must hold integer class indices; got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{name} holds a negative class index {int(y.min())}")
    return y


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.size} vs {y_pred.size}")
    if y_true.size == 0:
        raise ValueError("no samples to score")
    return y_true, y_pred


def _scores(scores, y_true) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must have shape (N, C) (logits or probabilities); got {scores.shape}")
    y_true = _labels(y_true, "y_true")
    if y_true.shape != scores.shape[:1]:
        raise ValueError(f"scores have {scores.shape[0]} rows but y_true has {y_true.size} labels")
    if y_true.size == 0:
        raise ValueError("no samples to score")
    if y_true.max() >= scores.shape[1]:
        raise ValueError(f"label {int(y_true.max())} out of range for {scores.shape[1]} classes")
    return scores, y_true


def accuracy(y_true, y_pred) -> float:
    """Share of predicted labels equal to the true labels."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float((y_true == y_pred).mean())


def top_k_accuracy(scores, y_true, k: int = 1) -> float:
    """Share of samples whose true class is among the `k` highest of `scores` (N, C); ties go to
    the lower index, as `argmax` does."""
    scores, y_true = _scores(scores, y_true)
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"k must be in [1, {scores.shape[1]}] for {scores.shape[1]} classes; got {k}")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == y_true[:, None]).any(axis=1).mean())


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """(C, C) int64: [i, j] = samples of true class i predicted as j; C = `num_classes` or max label + 1."""
    y_true, y_pred = _pair(y_true, y_pred)
    seen = int(max(y_true.max(), y_pred.max())) + 1
    c = seen if num_classes is None else int(num_classes)
    if c < seen:
        raise ValueError(f"label {seen - 1} out of range for num_classes={c}")
    return np.bincount(y_true * c + y_pred, minlength=c * c).reshape(c, c).astype(np.int64)


def _matrix(matrix) -> np.ndarray:
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix must be square (C, C); got {matrix.shape}")
    if matrix.sum() == 0:
        raise ValueError("the confusion matrix is empty (no samples)")
    return matrix.astype(np.float64)


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(num.shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def per_class_accuracy(matrix) -> np.ndarray:
    """Per-class recall TP / support: (C,); NaN for a class with no true samples (0 would read as always wrong)."""
    m = _matrix(matrix)
    return _ratio(np.diag(m), m.sum(axis=1), np.nan)


def precision_recall_f1(matrix) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 (0 where undefined, as sklearn) and support, each (C,)."""
    m = _matrix(matrix)
    tp = np.diag(m)
    predicted, support = m.sum(axis=0), m.sum(axis=1)
    return {
        "precision": _ratio(tp, predicted, 0.0),
        "recall": _ratio(tp, support, 0.0),
        "f1": _ratio(2 * tp, predicted + support, 0.0),  # = 2TP / (2TP + FP + FN)
        "support": support.astype(np.int64),
    }


def per_class_table(matrix, names: Sequence[str]) -> dict[str, dict[str, float | int]]:
    """{class name: {"precision", "recall", "f1", "support"}} per present class: the table behind per_class.csv."""
    scores, present = precision_recall_f1(matrix), present_classes(matrix)
    return {str(name): {"precision": float(scores["precision"][i]), "recall": float(scores["recall"][i]),
                        "f1": float(scores["f1"][i]), "support": int(scores["support"][i])}
            for i, name in enumerate(names) if present[i]}


def present_classes(matrix) -> np.ndarray:
    """Boolean (C,) mask of classes occurring in y_true or y_pred: those F1 averages count."""
    m = _matrix(matrix)
    return (m.sum(axis=0) + m.sum(axis=1)) > 0


def macro_f1(matrix) -> float:
    """Unweighted mean F1 over the classes present in y_true ∪ y_pred (sklearn average='macro')."""
    return float(precision_recall_f1(matrix)["f1"][present_classes(matrix)].mean())


def weighted_f1(matrix) -> float:
    """Support-weighted mean F1 (sklearn average='weighted')."""
    per_class = precision_recall_f1(matrix)
    return float(np.average(per_class["f1"], weights=per_class["support"]))


def summarize(scores, y_true, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Top-k accuracies (k ≤ C only), macro-F1 and weighted F1 from scores (N, C) in one dict."""
    scores, y_true = _scores(scores, y_true)
    matrix = confusion_matrix(y_true, scores.argmax(axis=1), scores.shape[1])
    return {**{f"top{k}": top_k_accuracy(scores, y_true, k) for k in ks if k <= scores.shape[1]},
            "macro_f1": macro_f1(matrix), "weighted_f1": weighted_f1(matrix), "count": int(y_true.size)}
