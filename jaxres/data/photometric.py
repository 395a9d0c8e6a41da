"""Colour changes that move no pixel, so they never touch the targets."""

from __future__ import annotations

import numpy as np


def _gray(img):
    """The luma of a float image (numpy or jax), keeping a channel axis; a gray image is its own."""
    if img.shape[-1] == 1:
        return img
    return img[..., 0:1] * 0.299 + img[..., 1:2] * 0.587 + img[..., 2:3] * 0.114


def apply_jitter(img, factors, amounts, xp=np):
    """Brightness, contrast and saturation `factors` applied in turn (each where non-zero) to a 0..255
    float image over `xp`; clipped to 0..255."""
    fb, fc, fs = factors
    brightness, contrast, saturation = amounts
    if brightness:
        img = img * fb
    if contrast:
        mean = _gray(xp.clip(img, 0, 255)).mean()
        img = (img - mean) * fc + mean
    if saturation and img.shape[-1] == 3:
        gray = _gray(xp.clip(img, 0, 255))
        img = (img - gray) * fs + gray
    return xp.clip(img, 0, 255)


def jitter_amounts(jitter) -> tuple[float, float, float]:
    """The config's `augment.jitter` (None or one amount, range-checked by the config) as the (brightness,
    contrast, saturation) amounts."""
    return (float(jitter or 0.0),) * 3
