"""T-shirt silhouettes with 12 keypoints, written like the T-shirt project's `points_24.csv` set.

Layout of the folder `make` returns (all images 224×224 by default, as in the real set):
    points_24.csv            train rows: filename,points   points = "['5', '89', ...]", 24 integers
    points_24_val.csv        validation rows, same format
    t-shirt_resized_train/   1.jpg ... (train then validation images)

Point meaning follows the real annotations (outline drawn 0,6,1,7,2,8,3,9,4,10,5,11; "left" is the
picture's left): 0/6 left sleeve tip top/bottom, 1 left armpit, 7 left hem, 2 right hem, 8 right
armpit, 3/9 right sleeve tip bottom/top, 4 right shoulder, 10 right neck, 5 left neck, 11 left
shoulder. FLIP_PAIRS is the mirror permutation of that layout, for the task's flip map.
Coordinates are non-negative integers, because the original parser kept only `\\d+`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from PIL import ImageDraw

from jaxres.data.synthetic import draw
from jaxres.data.synthetic.store import build_once

TRAIN_CSV = "points_24.csv"
VAL_CSV = "points_24_val.csv"
IMAGES = "t-shirt_resized_train"
OUTLINE = (0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11)
FLIP_PAIRS = ((0, 9), (6, 3), (1, 8), (7, 2), (4, 11), (5, 10))
VERSION = 1


def _sleeve(shoulder, armpit, angle_deg, length, side):
    """Tip points (top, bottom) of a sleeve leaving the shoulder `angle_deg` below horizontal."""
    a = math.radians(angle_deg)
    direction = np.array([side * math.cos(a), math.sin(a)])
    top = np.asarray(shoulder) + length * direction
    width = np.linalg.norm(np.asarray(armpit) - np.asarray(shoulder)) * 0.8
    normal = np.array([-side * math.sin(a), math.cos(a)])  # across the sleeve, towards the hem
    return top, top + width * normal


def keypoints(rng: np.random.Generator) -> np.ndarray:
    """(12, 2) points in the shirt frame (body half-width about 1, y down, centred), random build."""
    body_w = rng.uniform(0.85, 1.1)
    length = rng.uniform(1.0, 1.5)
    flare = rng.uniform(0.95, 1.15)
    neck = rng.uniform(0.25, 0.42)
    pts = np.zeros((12, 2))
    pts[11], pts[4] = (-body_w * 0.95, -1.0), (body_w * 0.95, -1.0)  # shoulders
    pts[5], pts[10] = (-neck, -1.15), (neck, -1.15)
    pts[1], pts[8] = (-body_w, -0.45), (body_w, -0.45)  # armpits
    pts[7], pts[2] = (-body_w * flare, length), (body_w * flare, length)  # hem
    for top, bottom, shoulder, armpit, side in ((0, 6, 11, 1, -1), (9, 3, 4, 8, 1)):
        pts[top], pts[bottom] = _sleeve(pts[shoulder], pts[armpit], rng.uniform(10, 40),
                                        rng.uniform(0.65, 0.95), side)
    return pts - (pts.min(0) + pts.max(0)) / 2  # centre the extent, so posing keeps it in frame


def _polygon(pts: np.ndarray, dip: float) -> np.ndarray:
    """The outline in drawing order, with the collar dipping between the neck points."""
    ring = [pts[i] for i in OUTLINE[:-2]]  # ... up to 10, the right neck point
    left, right = pts[5], pts[10]
    t = np.linspace(0.0, 1.0, 9)[1:-1]
    collar = [right + (left - right) * s + np.array([0.0, dip * math.sin(math.pi * s)]) for s in t]
    return np.array(ring + collar + [pts[5], pts[11]])


def _one_shirt(rng, size):
    """-> (image, (12, 2) int points). Poses that would leave the frame are drawn again."""
    template = keypoints(rng)
    dip = rng.uniform(0.1, 0.3)
    for _ in range(100):
        scale, angle = rng.uniform(0.22, 0.32) * size, rng.uniform(-12, 12)
        center = rng.uniform(0.4, 0.6, size=2) * size
        pts = draw.pose(template, scale, angle, center)
        if pts.min() >= 2 and pts.max() <= size - 3:
            break
    outline = draw.pose(_polygon(template, dip), scale, angle, center)
    shirt = draw.random_color(rng)
    bg = draw.gradient_background(rng, size, size, draw.contrasting_color(rng, shirt, 120.0))
    img = draw.to_image(bg)
    d = ImageDraw.Draw(img)
    d.polygon(draw.xy(outline), fill=shirt, outline=tuple(int(c * 0.5) for c in shirt))
    return draw.add_noise(rng, img, 8.0), np.clip(np.rint(pts), 0, size - 1).astype(int)


def _write_rows(path: Path, rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", "points"])
        for name, pts in rows:
            writer.writerow([name, str([str(int(v)) for v in pts.reshape(-1)])])


def make(root, *, n_train: int = 400, n_val: int = 100, seed: int = 0, size: int = 224) -> Path:
    """Write (or find) the T-shirt set in `root`; returns `root` (see the module doc for the layout)."""
    params = {"n_train": n_train, "n_val": n_val, "seed": seed, "size": size}

    def build(folder: Path) -> None:
        rng = np.random.default_rng(seed)
        rows = []
        for i in range(1, n_train + n_val + 1):
            img, pts = _one_shirt(rng, size)
            draw.save_jpeg(img, folder / IMAGES / f"{i}.jpg")
            rows.append((f"{i}.jpg", pts))
        _write_rows(folder / TRAIN_CSV, rows[:n_train])
        _write_rows(folder / VAL_CSV, rows[n_train:])

    return build_once(root, "jaxres.synthetic.tshirts", VERSION, params, build)
