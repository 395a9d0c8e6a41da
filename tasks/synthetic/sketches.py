"""Black-on-white line drawings of simple shapes, in ImageNet-Sketch style class folders.

Layout of the folder `make` returns:
    train/<class>/train_00000.png ...   n_train images, classes balanced
    val/<class>/...                     n_val images
    test/<class>/...                    n_test images (default n_val)
    predict_images/00000.png ...        the test images again, flat and unlabelled, for `predict`
                                        (not `test_images/`: class-folder readers take that name
                                        as an alias of `test/`)
    predict_solution.csv                Id,Category for those (the original's prediction format)
    class2category.csv                  Class,Category: folder name -> label, as the real project's

Classes are the first n_classes of SHAPES, labelled in sorted folder-name order (the order a class
folder reader without a class list uses). Strokes wobble like a hand's, shapes turn, shift and
change size and line width, and a couple of stray strokes add clutter.
"""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from jaxres.data.synthetic import draw
from jaxres.data.synthetic.store import build_once

SHAPES = ("circle", "square", "triangle", "star", "cross", "arrow", "house", "lightning")
VERSION = 1


def _ngon(n: int, start_deg: float = -90.0, radius: float = 1.0) -> np.ndarray:
    t = np.radians(start_deg + 360.0 * np.arange(n + 1) / n)  # closed: first point repeated
    return np.stack([np.cos(t), np.sin(t)], 1) * radius


def _star() -> np.ndarray:
    outer, inner = _ngon(5), _ngon(5, -90.0 + 36.0, 0.4)
    pts = np.empty((11, 2))
    pts[0:10:2], pts[1:10:2], pts[10] = outer[:5], inner[:5], outer[0]
    return pts


def strokes(name: str) -> list[np.ndarray]:
    """The shape as polylines in the unit frame ([-1, 1]², y down)."""
    table = {
        "circle": lambda: [_ngon(40)],
        "square": lambda: [np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]]) * 0.8],
        "triangle": lambda: [_ngon(3, -90.0)],
        "star": lambda: [_star()],
        "cross": lambda: [np.array([[0, -1], [0, 1]]), np.array([[-1, 0], [1, 0]])],
        "arrow": lambda: [np.array([[-1, 0], [1, 0]]), np.array([[0.4, -0.5], [1, 0], [0.4, 0.5]])],
        "house": lambda: [np.array([[-0.7, 0], [-0.7, 1], [0.7, 1], [0.7, 0], [-0.7, 0], [0, -0.9], [0.7, 0]])],
        "lightning": lambda: [np.array([[0.3, -1], [-0.4, 0.1], [0.3, 0.1], [-0.3, 1]])],
    }
    return [np.asarray(s, np.float64) for s in table[name]()]


def _wobble(rng, line: np.ndarray, amount: float) -> np.ndarray:
    """Subdivide each segment and jitter the points smoothly: a hand-drawn look."""
    pts = [line[0]]
    for a, b in itertools.pairwise(line):
        steps = max(1, math.ceil(np.linalg.norm(b - a) / 0.25))
        pts += [a + (b - a) * s for s in np.arange(1, steps + 1) / steps]
    pts = np.array(pts)
    noise = rng.normal(0.0, amount, size=pts.shape)
    noise = (noise + np.roll(noise, 1, 0) + np.roll(noise, -1, 0)) / 3  # smooth, not spiky
    return pts + noise


def _one_sketch(rng, name: str, size: int) -> Image.Image:
    img = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(img)
    scale, angle = rng.uniform(0.25, 0.4) * size, rng.uniform(-25, 25)
    center = rng.uniform(0.4, 0.6, size=2) * size
    width = max(1, round(rng.uniform(0.02, 0.045) * size))
    for line in strokes(name):
        d.line(draw.xy(draw.pose(_wobble(rng, line, 0.04), scale, angle, center)), fill=0, width=width,
               joint="curve")
    for _ in range(int(rng.integers(0, 3))):  # short stray marks anywhere
        a = rng.uniform(0, 1, size=2) * size
        b = a + rng.uniform(-0.12, 0.12, size=2) * size
        d.line([tuple(a), tuple(b)], fill=0, width=max(1, width - 1))
    return img


def _labels(rng, n: int, n_classes: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % n_classes)


def _write_split(folder: Path, split: str, n: int, rng, classes, size: int) -> list[tuple[Image.Image, int]]:
    out = []
    for i, c in enumerate(_labels(rng, n, len(classes))):
        img = _one_sketch(rng, classes[c], size)
        path = folder / split / classes[c] / f"{split}_{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
        out.append((img, int(c)))
    for name in classes:  # every class folder exists, even with tiny n
        (folder / split / name).mkdir(parents=True, exist_ok=True)
    return out


def _write_flat_test(folder: Path, test) -> None:
    (folder / "predict_images").mkdir()
    with open(folder / "predict_solution.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Id", "Category"])
        for i, (img, c) in enumerate(test):
            img.save(folder / "predict_images" / f"{i:05d}.png")
            writer.writerow([f"{i:05d}", c])


def _write_class_table(folder: Path, classes) -> None:
    with open(folder / "class2category.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Class", "Category"])
        writer.writerows((name, i) for i, name in enumerate(classes))


def make(root, *, n_train: int = 480, n_val: int = 120, seed: int = 0, size: int = 64,
         n_classes: int = 6, n_test: int | None = None) -> Path:
    """Write (or find) the sketch set in `root`; returns `root` (see the module doc for the layout)."""
    if not 2 <= n_classes <= len(SHAPES):
        raise ValueError(f"n_classes must be between 2 and {len(SHAPES)}, not {n_classes}")
    n_test = n_val if n_test is None else n_test
    params = {"n_train": n_train, "n_val": n_val, "n_test": n_test, "seed": seed, "size": size,
              "n_classes": n_classes}
    classes = tuple(sorted(SHAPES[:n_classes]))

    def build(folder: Path) -> None:
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
        _write_split(folder, "train", n_train, rngs[0], classes, size)
        _write_split(folder, "val", n_val, rngs[1], classes, size)
        _write_flat_test(folder, _write_split(folder, "test", n_test, rngs[2], classes, size))
        _write_class_table(folder, classes)

    return build_once(root, "jaxres.synthetic.sketches", VERSION, params, build)
