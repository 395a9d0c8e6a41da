"""Tiny data sets in each task's real on-disk format, built in a test's folder for the bad-input corpus.

Images are 32x32 PNGs, so reading and validating a whole set takes milliseconds; a builder writes a
valid set and a case then damages one file, row or key of it.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
from PIL import Image

SIZE = 32


def png(path: pathlib.Path, seed: int = 0) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def points(k: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(4, SIZE - 4, (k, 2))


def pts_file(path: pathlib.Path, k: int, seed: int = 0) -> pathlib.Path:
    """A 300-W `.pts` with its image beside it (1-based coordinates, as the format has them)."""
    png(path.with_suffix(".png"), seed)
    body = "\n".join(f"{x + 1:.3f} {y + 1:.3f}" for x, y in points(k, seed))
    path.write_text(f"version: 1\nn_points: {k}\n{{\n{body}\n}}\n")
    return path


def tree_300w(root: pathlib.Path, k: int = 68) -> pathlib.Path:
    """afw/a0..a9 + helen and lfpw train and test sets of one face each + ibug/t0..t2."""
    for i in range(10):
        pts_file(root / "afw" / f"a{i}.pts", k, i)
    for i, sub in enumerate(("helen/trainset", "lfpw/trainset", "helen/testset", "lfpw/testset")):
        pts_file(root / sub / f"s{i}.pts", k, 50 + i)
    for i in range(3):
        pts_file(root / "ibug" / f"t{i}.pts", k, 100 + i)
    return root


def dlib_xml(path: pathlib.Path, images: int, k: int = 68, seed: int = 0) -> pathlib.Path:
    faces = []
    for i in range(images):
        png(path.parent / f"{path.stem}_{i}.png", seed + i)
        parts = "".join(f"<part name='{j:02d}' x='{x:.0f}' y='{y:.0f}'/>" for j, (x, y) in enumerate(points(k, i)))
        faces.append(f"<image file='{path.stem}_{i}.png' width='{SIZE}' height='{SIZE}'>"
                     f"<box top='2' left='2' width='28' height='28'>{parts}</box></image>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<?xml version='1.0'?><dataset><images>{''.join(faces)}</images></dataset>")
    return path


def box_csv(path: pathlib.Path, rows: int, seed: int = 0) -> pathlib.Path:
    """index, path, x, y, height, width; images in `<folder>/images/`."""
    lines = ["index,path,x,y,height,width"]
    for i in range(rows):
        name = f"images/{path.stem}_{i}.png"
        png(path.parent / name, seed + i)
        lines.append(f"{i},{name},4,5,12,10")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def box_folder(root: pathlib.Path) -> pathlib.Path:
    for split, rows in (("train", 10), ("val", 3), ("test", 3)):
        box_csv(root / f"{split}.csv", rows, seed=len(split) * 50)
    return root


def class_folders(root: pathlib.Path, splits: dict[str, list[str]], per_class: int = 4) -> pathlib.Path:
    for split, classes in splits.items():
        for c, name in enumerate(classes):
            for i in range(per_class):
                png(root / split / name / f"{split}_{name}_{i}.png", seed=c * 10 + i)
    return root


def signs_h5(path: pathlib.Path, split: str, labels, list_classes) -> pathlib.Path:
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(labels))
    with h5py.File(path, "w") as f:
        f.create_dataset(f"{split}_set_x", data=rng.integers(0, 255, (len(labels), SIZE, SIZE, 3), dtype=np.uint8))
        f.create_dataset(f"{split}_set_y", data=np.asarray(labels, dtype=np.int64))
        f.create_dataset("list_classes", data=np.asarray(list_classes, dtype=np.int64))
    return path


def coco(path: pathlib.Path, n: int = 10, k: int = 68) -> dict:
    """A valid COCO keypoint document (returned, for a case to damage and then `write_json`)."""
    images, annotations = [], []
    for i in range(n):
        png(path.parent / f"c{i}.png", i)
        images.append({"id": i, "file_name": f"c{i}.png", "width": SIZE, "height": SIZE})
        flat = [v for x, y in points(k, i) for v in (round(x, 2), round(y, 2), 2)]
        annotations.append({"id": i, "image_id": i, "keypoints": flat, "bbox": [2, 2, 28, 28]})
    return {"images": images, "annotations": annotations}


def write_json(path: pathlib.Path, doc) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def digests(root: pathlib.Path) -> dict[str, str]:
    """SHA-256 of every file under `root`, to show that a refused command changed none of them."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
