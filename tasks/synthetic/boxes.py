"""One object per image on a textured background, written like the box-regression project's CSV.

Layout of the folder `make` returns:
    train.csv, val.csv, test.csv
                            header index,path,x,y,height,width (height BEFORE width, as the original);
                            path relative to the folder; x, y the top-left corner, integer pixels.
                            val.csv chooses the checkpoint, so the final evaluation uses test.csv
    images/00000.jpg ...

The object is a filled rectangle or ellipse in a colour far from the background's, between 15% and
60% of the image on each side; the background has soft blobs and noise so that "find the odd colour"
is easy but not trivially flat. The box (x, y, width, height) is exactly the drawn extent.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import ImageDraw, ImageFilter

from jaxres.data.synthetic import draw
from jaxres.data.synthetic.store import build_once

TRAIN_CSV = "train.csv"
VAL_CSV = "val.csv"
TEST_CSV = "test.csv"
COLUMNS = ("index", "path", "x", "y", "height", "width")
VERSION = 2  # 2: test.csv


def _background(rng, size, color):
    """Gradient plus a few blurred blobs of nearby colours: texture without a second object."""
    img = draw.to_image(draw.gradient_background(rng, size, size, color))
    d = ImageDraw.Draw(img)
    for _ in range(6):
        c = tuple(int(np.clip(v + rng.integers(-35, 36), 0, 255)) for v in color)
        x, y = rng.uniform(-0.2, 1.0, size=2) * size
        r = rng.uniform(0.1, 0.35) * size
        d.ellipse([x, y, x + r, y + r], fill=c)
    return img.filter(ImageFilter.GaussianBlur(size / 25))


def _one_image(rng, size):
    """-> (image, (x, y, width, height) ints)."""
    back = draw.random_color(rng, 30, 225)
    obj = draw.contrasting_color(rng, back, 160.0)
    img = _background(rng, size, back)
    w, h = (int(v) for v in np.rint(rng.uniform(0.15, 0.6, size=2) * size))
    x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
    shape = ImageDraw.Draw(img).rectangle if rng.random() < 0.5 else ImageDraw.Draw(img).ellipse
    shape([x, y, x + w - 1, y + h - 1], fill=obj)  # inclusive corners: exactly w×h pixels
    return draw.add_noise(rng, img, 8.0), (x, y, w, h)


def _write_csv(path: Path, rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for i, (file, (x, y, w, h)) in enumerate(rows):
            writer.writerow([i, file, x, y, h, w])


def make(root, *, n_train: int = 400, n_val: int = 100, seed: int = 0, size: int = 128,
         n_test: int | None = None) -> Path:
    """Write (or find) the box set in `root`; returns `root` (see the module doc for the layout).

    `n_test` defaults to `n_val`.
    """
    n_test = n_val if n_test is None else n_test
    params = {"n_train": n_train, "n_val": n_val, "n_test": n_test, "seed": seed, "size": size}

    def build(folder: Path) -> None:
        rng = np.random.default_rng(seed)
        rows = []
        for i in range(n_train + n_val + n_test):
            img, box = _one_image(rng, size)
            file = f"images/{i:05d}.jpg"
            draw.save_jpeg(img, folder / file)
            rows.append((file, box))
        _write_csv(folder / TRAIN_CSV, rows[:n_train])
        _write_csv(folder / VAL_CSV, rows[n_train:n_train + n_val])
        _write_csv(folder / TEST_CSV, rows[n_train + n_val:])

    return build_once(root, "jaxres.synthetic.boxes", VERSION, params, build)
