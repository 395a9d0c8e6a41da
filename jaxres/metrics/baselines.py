"""Trivial baselines (training mean target, majority class) a task reports beside its model as a yardstick."""

from __future__ import annotations

import numpy as np


def mean_target(train_targets) -> np.ndarray:
    """Mean training target, e.g. (K, 2) or (4,), over labelled (non-NaN) entries; NaN where none is."""
    train_targets = np.asarray(train_targets, dtype=np.float64)
    if train_targets.ndim < 1 or train_targets.shape[0] == 0:
        raise ValueError(f"need at least one training target; got shape {train_targets.shape}")
    finite = np.isfinite(train_targets)
    return np.where(finite, train_targets, 0.0).sum(axis=0) / np.where(finite.any(axis=0), finite.sum(axis=0), np.nan)


def repeat(target, n: int) -> np.ndarray:
    """`n` copies of one target, (n, *target.shape): the constant prediction for n samples."""
    target = np.asarray(target)
    return np.broadcast_to(target, (n, *target.shape)).copy()


def majority_class(train_labels) -> int:
    """The most frequent training label (the lowest index on a tie)."""
    labels = np.asarray(train_labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"need a non-empty 1-D array of training labels; got shape {labels.shape}")
    return int(np.bincount(labels.astype(np.int64)).argmax())
