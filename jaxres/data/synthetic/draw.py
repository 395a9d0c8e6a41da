"""Drawing helpers the generators share: plain-ish backgrounds, noise, posed point sets, saving."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def random_color(rng: np.random.Generator, lo: int = 0, hi: int = 255) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi + 1, size=3))


def contrasting_color(rng: np.random.Generator, against, min_distance: float = 150.0,
                      lo: int = 0, hi: int = 255) -> tuple[int, int, int]:
    """A colour in [lo, hi]³ at least `min_distance` (RGB Euclidean) from `against`: it must stand out."""
    ref = np.asarray(against, np.float64)
    for _ in range(100):
        c = random_color(rng, lo, hi)
        if np.linalg.norm(np.asarray(c) - ref) >= min_distance:
            return c
    return tuple(int(255 - v) for v in ref)  # rare fallback: the complement


def gradient_background(rng: np.random.Generator, w: int, h: int, color, spread: int = 30) -> np.ndarray:
    """(h, w, 3) float32: `color` with a gentle linear gradient in a random direction."""
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)[..., None]
    tint = rng.uniform(-spread, spread, size=3).astype(np.float32)
    return np.asarray(color, np.float32) + ramp * tint


def add_noise(rng: np.random.Generator, image: Image.Image, sigma: float) -> Image.Image:
    """Gaussian pixel noise, so a network cannot key on perfectly flat regions."""
    arr = np.asarray(image, np.float32)
    return to_image(arr + rng.normal(0.0, sigma, size=arr.shape).astype(np.float32))


def to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def pose(points: np.ndarray, scale: float, angle_deg: float, center) -> np.ndarray:
    """Template points (unit frame, y down) scaled, turned counter-clockwise on screen, then placed."""
    t = math.radians(angle_deg)
    rot = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    return (np.asarray(points, np.float64) * scale) @ rot.T + np.asarray(center, np.float64)


def xy(points) -> list[tuple[float, float]]:
    """Points as the list of tuples ImageDraw wants."""
    return [(float(x), float(y)) for x, y in np.asarray(points)]


def save_jpeg(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=92)
