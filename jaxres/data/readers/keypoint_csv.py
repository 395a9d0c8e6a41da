"""Keypoint CSVs in pixels of the image file; K from the first row, checked on every row.

Original layout (`points_24.csv`): `filename,points`, the cell a stringified list of 2K whole numbers
"['5', '89', ...]" as (x0, y0, x1, y1, ...). Wide layout: a filename column, then one per coordinate.
`source` is "<csv>:<line>", the header on line 1."""

from __future__ import annotations

import glob
import os
import re

import numpy as np

from jaxres.data.readers._common import IMAGE_EXTENSIONS, csv_rows, read_csv_strings, resolve_image_path, to_float
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError

_ORIGINAL_IMAGE_FOLDER = "t-shirt_resized_train"
_DEFAULT_CSV = "points_24.csv"
_SEPARATORS = re.compile(r"[,;\s]+")


def read_keypoint_csv(csv_path: str | os.PathLike, images_dir: str | os.PathLike | None = None, *,
                      allow_absolute_paths: bool = False) -> Dataset:
    """Read either layout; image paths join `images_dir` (default `<csv folder>/t-shirt_resized_train`
    when it exists, else the CSV's folder) and stay inside it unless `allow_absolute_paths`."""
    csv_path = os.path.abspath(os.fspath(csv_path))
    if images_dir is None:
        original = os.path.join(os.path.dirname(csv_path), _ORIGINAL_IMAGE_FOLDER)
        images_dir = original if os.path.isdir(original) else os.path.dirname(csv_path)
    table = read_csv_strings(csv_path)
    if table.shape[1] < 2:
        raise DataError(f"expected columns 'filename,points' or a filename then one column per coordinate, "
                        f"got {list(table.columns)}", where=f"{csv_path}:1")
    _check_header(table.columns, csv_path)
    parse = _points_cell if table.shape[1] == 2 else _wide_cells
    records, num_values = [], None
    for where, row in csv_rows(table, csv_path):
        values = parse(row[1:], where)
        num_values = _check_count(values, num_values, where)
        image = resolve_image_path(images_dir, row[0], where, allow_absolute=allow_absolute_paths)
        records.append(Record(image=image, source=where, keypoints=np.asarray(values, np.float32).reshape(-1, 2)))
    if not records:
        raise DataError("the CSV has a header but no rows", where=csv_path)
    return Dataset(records, source=csv_path)


def read_keypoint_folder(root: str | os.PathLike, *, allow_absolute_paths: bool = False) -> Dataset:
    """Read a folder holding `points_24.csv` (or exactly one *.csv) and its image folder."""
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise DataError("keypoint data folder not found", where=root)
    csv_path = os.path.join(root, _DEFAULT_CSV)
    if not os.path.isfile(csv_path):
        found = sorted(glob.glob(os.path.join(root, "*.csv")))
        if len(found) != 1:
            names = [os.path.basename(p) for p in found]
            raise DataError(f"expected {_DEFAULT_CSV} or exactly one *.csv file, found {names or 'none'}", where=root)
        csv_path = found[0]
    return read_keypoint_csv(csv_path, _folder_images_dir(root), allow_absolute_paths=allow_absolute_paths)


def _folder_images_dir(root: str) -> str:
    """The original image folder, else `images/`, else the only sub-folder, else the root itself."""
    for name in (_ORIGINAL_IMAGE_FOLDER, "images"):
        if os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    subfolders = [e.path for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")]
    return subfolders[0] if len(subfolders) == 1 else root


def _check_header(columns, csv_path: str) -> None:
    """A file without a header would silently lose its first row to pandas' header."""
    if os.path.splitext(str(columns[0]).strip())[1].lower() in IMAGE_EXTENSIONS:
        raise DataError(
            f"the first line looks like data ({columns[0]!r}); add a header line such as 'filename,points'",
            where=f"{csv_path}:1",
        )


def _points_cell(cells: tuple, where: str) -> list[float]:
    """Numbers of a "['5', '-3.5', ...]" / "[5, 1e2]" / "5 89 ..." cell; any other token is an error."""
    text = str(cells[0]).strip()
    tokens = [t.strip("[]()'\"") for t in _SEPARATORS.split(text)]
    tokens = [t for t in tokens if t]
    if not tokens:
        raise DataError("the points cell is empty", where=where)
    return [to_float(t, where, f"point value {k}") for k, t in enumerate(tokens)]


def _wide_cells(cells: tuple, where: str) -> list[float]:
    return [to_float(c, where, f"coordinate column {k + 1}") for k, c in enumerate(cells)]


def _check_count(values: list[float], expected: int | None, where: str) -> int:
    if len(values) % 2:
        raise DataError(f"{len(values)} coordinates is an odd count; expected (x, y) pairs", where=where)
    if expected is not None and len(values) != expected:
        raise DataError(f"{len(values)} coordinates, but the first row has {expected} ({expected // 2} points)",
                        where=where)
    return len(values)

