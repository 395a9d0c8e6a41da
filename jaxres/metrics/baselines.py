"""Trivial baselines a task reports next to its model, so a number like "NME 0.09" has a yardstick.

Regression tasks predict the training mean of their (normalised) targets for every input: the mean
shape for keypoints, the mean box for boxes. Classification predicts the training majority class.
A model that does not beat these has learned nothing about the image.
"""

from __future__ import annotations

import numpy as np


def mean_target(train_targets) -> np.ndarray:
    """Mean of the training targets over samples: one target's shape, e.g. (K, 2) or (4,).
    Unlabelled (NaN) entries are left out; an entry no sample labels stays NaN."""
    train_targets = np.asarray(train_targets, dtype=np.float64)
    if train_targets.ndim < 1 or train_targets.shape[0] == 0:
        raise ValueError(f"need at least one training target; got shape {train_targets.shape}")
    finite = np.isfinite(train_targets)
    return np.where(finite, train_targets, 0.0).sum(axis=0) / np.where(finite.any(axis=0), finite.sum(axis=0), np.nan)


def repeat(target, n: int) -> np.ndarray:
    """`n` copies of one target, (n, *target.shape): the constant prediction for n samples."""
    target = np.asarray(target)
    return np.broadcast_to(target, (n, *target.shape)).copy()


def _train_labels(train_labels) -> np.ndarray:
    labels = np.asarray(train_labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"need a non-empty 1-D array of training labels; got shape {labels.shape}")
    return labels.astype(np.int64)


def majority_class(train_labels) -> int:
    """The most frequent training label (the lowest index on a tie)."""
    return int(np.bincount(_train_labels(train_labels)).argmax())


def class_frequencies(train_labels, num_classes: int) -> np.ndarray:
    """Share of each class among the training labels, (num_classes,).

    `repeat(class_frequencies(...), n)` scores every sample by the class prior: its top-1 is the
    majority class and its top-k the k most frequent classes, the fair baseline for top-k accuracy.
    """
    labels = _train_labels(train_labels)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"training labels must lie in [0, {num_classes}); "
                         f"got [{labels.min()}, {labels.max()}]")
    return np.bincount(labels, minlength=num_classes) / labels.size
