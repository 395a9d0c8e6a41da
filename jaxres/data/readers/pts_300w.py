"""iBUG 300-W `.pts` files ("version: 1", "n_points: 68", then the points between braces) and the
300-W folder tree.

300-W's coordinates are 1-based (Matlab's); 1 is subtracted, as menpo does, so every reader puts
the centre of the top-left pixel at (0, 0) (`read_pts(path, zero_based=False)` keeps them). In the
tree (`_SUBSETS`) each image lies beside its `.pts`; record.box is the points' tight box (a .pts has
no face box)."""

from __future__ import annotations

import os

import numpy as np

from jaxres.data.readers._common import file_stem, image_files, read_bytes, to_float
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError

_SUBSETS = {
    "train": ("afw", "helen/trainset", "lfpw/trainset"),
    "common": ("helen/testset", "lfpw/testset"),
    "challenging": ("ibug",),
}
_SPLITS = {
    "train": ("train",),
    "common": ("common",),
    "challenging": ("challenging",),
    "full": ("common", "challenging"),
    "test": ("common", "challenging"),
}


def read_pts(path: str | os.PathLike, *, zero_based: bool = True) -> np.ndarray:
    """(n_points, 2) float32 (x, y); 1 is subtracted unless `zero_based=False` (see module doc)."""
    path = os.fspath(path)
    try:
        lines = read_bytes(path).decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"not a .pts text file ({err})", where=path) from None
    n_points = _header_count(lines, path)
    open_at = _line_index(lines, "{", path)
    close_at = _line_index(lines, "}", path, start=open_at + 1)
    body = [(i, line) for i, line in enumerate(lines[open_at + 1 : close_at], start=open_at + 2) if line.strip()]
    if len(body) != n_points:
        raise DataError(f"n_points is {n_points} but {len(body)} points are listed", where=f"{path}:{open_at + 1}")
    points = np.asarray([_point(line, f"{path}:{lineno}") for lineno, line in body], dtype=np.float32)
    return points - 1.0 if zero_based else points


def read_300w_tree(root: str | os.PathLike, split: str) -> Dataset:
    """Records of one split; test records carry meta["subset"] = "common" or "challenging"."""
    root = os.path.abspath(os.fspath(root))
    if split not in _SPLITS:
        raise DataError(f"unknown 300-W split {split!r}; use one of {sorted(_SPLITS)}", where=root)
    records = []
    for subset in _SPLITS[split]:
        for folder in _SUBSETS[subset]:
            records.extend(_folder_records(root, folder, subset))
    return Dataset(records, source=root)


def _header_count(lines: list[str], path: str) -> int:
    for i, line in enumerate(lines):
        key, _, value = line.partition(":")
        if key.strip() == "n_points":
            count = to_float(value, f"{path}:{i + 1}", "n_points")
            if count != int(count) or count <= 0:
                message = f"n_points must be a positive whole number, got {value.strip()}"
                raise DataError(message, where=f"{path}:{i + 1}")
            return int(count)
        if line.strip() == "{":
            break
    raise DataError("no 'n_points:' line before '{' (not a .pts file?)", where=f"{path}:1")


def _line_index(lines: list[str], token: str, path: str, start: int = 0) -> int:
    for i in range(start, len(lines)):
        if lines[i].strip() == token:
            return i
    raise DataError(f"missing a line holding only {token!r}", where=f"{path}:{len(lines)}")


def _point(line: str, where: str) -> tuple[float, float]:
    values = line.split()
    if len(values) != 2:
        raise DataError(f"expected 'x y', got {line.strip()!r}", where=where)
    return to_float(values[0], where, "x"), to_float(values[1], where, "y")


def _folder_records(root: str, folder: str, subset: str) -> list[Record]:
    directory = os.path.join(root, *folder.split("/"))
    if not os.path.isdir(directory):
        raise DataError(f"300-W folder {folder}/ not found (expected the original 300-W layout)", where=root)
    names = sorted(n for n in os.listdir(directory) if n.lower().endswith(".pts"))
    if not names:
        raise DataError("no .pts files in this 300-W folder", where=directory)
    images = {file_stem(p): p for p in reversed(image_files(directory))}  # the first of a stem's files
    return [_record(directory, name, images, folder, subset) for name in names]


def _record(directory: str, name: str, images: dict[str, str], folder: str, subset: str) -> Record:
    pts_path = os.path.join(directory, name)
    stem = os.path.splitext(name)[0]
    if stem not in images:
        raise DataError(f"no image {stem}.jpg/.png beside this landmark file", where=pts_path)
    points = read_pts(pts_path)
    box = np.concatenate([points.min(axis=0), points.max(axis=0)]).astype(np.float32)
    meta = {"subset": subset, "folder": folder}
    return Record(image=images[stem], source=pts_path, keypoints=points, box=box, meta=meta)
