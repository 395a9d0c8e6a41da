"""Hand signs for the digits 0-5 (a palm raising that many fingers), written as SIGNS HDF5 files.

Layout of the folder `make` returns:
    train_signs.h5   train_set_x (m, 64, 64, 3) uint8, train_set_y (m,) int64, list_classes (6,) int64
    test_signs.h5    test_set_x, test_set_y, list_classes          (n_val images)

As in SIGNS, 1 is the index finger, 2 adds the middle finger, and so on to 5 with the thumb; folded
fingers show as short knuckles. Hands turn, shift and change size and skin tone on light, plain-ish
backgrounds. Drawn at 4× and box-filtered down, so strokes are smooth at 64×64.
"""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
from PIL import Image, ImageDraw

from jaxres.data.synthetic import draw
from jaxres.data.synthetic.store import build_once

TRAIN_H5 = "train_signs.h5"
TEST_H5 = "test_signs.h5"
CLASSES = 6
VERSION = 1
_SUPER = 4

# Finger bases on the palm (palm frame: radius 1, y down) and their raise order: index, middle,
# ring, little, thumb. Angles are degrees from straight up, positive towards the picture's right.
_FINGERS = (((-0.45, -0.8), -8.0), ((-0.05, -0.95), 0.0), ((0.35, -0.85), 8.0), ((0.7, -0.6), 18.0),
            ((-0.9, 0.0), -60.0))


def _finger_segments(count: int, rng) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(base, tip, width) per finger in the palm frame; raised ones long, folded ones stubs."""
    out = []
    for k, (base, angle) in enumerate(_FINGERS):
        raised = k < count
        length = (rng.uniform(1.1, 1.4) if k < 4 else rng.uniform(0.8, 1.0)) if raised else 0.3
        a = math.radians(angle + rng.uniform(-6, 6))
        tip = np.asarray(base) + length * np.array([math.sin(a), -math.cos(a)])
        out.append((np.asarray(base), tip, 0.32 if k < 4 else 0.38))
    return out


def _one_hand(rng, count: int, size: int) -> np.ndarray:
    """(size, size, 3) uint8 picture of a hand showing `count` fingers."""
    big = size * _SUPER
    skin = np.array([205, 150, 120]) * rng.uniform(0.6, 1.1) + rng.integers(-15, 16, 3)
    skin = tuple(int(v) for v in np.clip(skin, 0, 255))
    back = draw.contrasting_color(rng, skin, 80.0, lo=140, hi=250)
    img = draw.to_image(draw.gradient_background(rng, big, big, back, spread=25))
    d = ImageDraw.Draw(img)
    scale, angle = rng.uniform(0.15, 0.2) * big, rng.uniform(-20, 20)
    center = (np.array([0.5, 0.62]) + rng.uniform(-0.06, 0.06, size=2)) * big

    def place(points):
        return draw.pose(points, scale, angle, center)

    for base, tip, width in _finger_segments(count, rng):
        pts = place(np.stack([base, tip]))
        r = width * scale / 2
        d.line(draw.xy(pts), fill=skin, width=int(2 * r))
        for x, y in pts:  # round ends, like finger tips
            d.ellipse([x - r, y - r, x + r, y + r], fill=skin)
    t = np.linspace(0, 2 * np.pi, 40)
    palm = place(np.stack([np.cos(t) * 0.95, np.sin(t) * 1.05], 1))
    d.polygon(draw.xy(palm), fill=skin)
    arm = place(np.array([[-0.55, 0.6], [0.55, 0.6], [0.6, 2.5], [-0.6, 2.5]]))
    d.polygon(draw.xy(arm), fill=skin)
    small = draw.add_noise(rng, img.resize((size, size), Image.BOX), 4.0)
    return np.asarray(small, np.uint8)


def _write_h5(path: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset(f"{prefix}_set_x", data=images, dtype=np.uint8, track_times=False)
        f.create_dataset(f"{prefix}_set_y", data=labels, dtype=np.int64, track_times=False)
        f.create_dataset("list_classes", data=np.arange(CLASSES, dtype=np.int64), track_times=False)


def _split(rng, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced labels in random order, and their pictures."""
    labels = rng.permutation(np.arange(n) % CLASSES).astype(np.int64)
    images = np.stack([_one_hand(rng, int(c), size) for c in labels]) if n else np.zeros((0, size, size, 3), np.uint8)
    return images, labels


def make(root, *, n_train: int = 600, n_val: int = 120, seed: int = 0, size: int = 64) -> Path:
    """Write (or find) the SIGNS-like set in `root`; returns `root` (see the module doc for the layout)."""
    params = {"n_train": n_train, "n_val": n_val, "seed": seed, "size": size}

    def build(folder: Path) -> None:
        train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        _write_h5(folder / TRAIN_H5, "train", *_split(train_rng, n_train, size))
        _write_h5(folder / TEST_H5, "test", *_split(test_rng, n_val, size))

    return build_once(root, "jaxres.synthetic.signs", VERSION, params, build)
