"""Box-regression CSV of the original ResNet-50 box project, columns by position (a header's names are
not trusted): 0 index (meta["index"]), 1 image path relative to `images_dir`, 2 x, 3 y, 4 HEIGHT,
5 WIDTH (height before width, as the original), in pixels; further columns ignored.

record.box = (x, y, x + width, y + height). The first line is a header exactly when none of its
x/y/height/width cells is a number; `source` is "<csv>:<line>"."""

from __future__ import annotations

import os

from jaxres.data.readers._common import (annotation_paths, corner_box, csv_rows, read_csv_strings, resolve_image_path,
                                         to_float)
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError

_NUMERIC = ("x", "y", "height", "width")


def read_box_csv(csv_path: str | os.PathLike, images_dir: str | os.PathLike | None = None, *,
                 allow_absolute_paths: bool = False) -> Dataset:
    """One record per row; images_dir defaults to the CSV's folder, and image paths stay inside it
    unless `allow_absolute_paths` (a CSV from elsewhere must not make us read arbitrary files)."""
    csv_path, images_dir = annotation_paths(csv_path, images_dir)
    table = read_csv_strings(csv_path, header=None)
    if table.shape[1] < 6:
        raise DataError(
            f"expected 6 columns (index, path, x, y, height, width), found {table.shape[1]}", where=f"{csv_path}:1"
        )
    header = len(table) > 0 and _is_header(table.iloc[0].tolist())
    records = [_record(row, images_dir, where, allow_absolute_paths)
               for where, row in csv_rows(table, csv_path, has_header=False, skip=int(header))]
    if not records:
        raise DataError("no box rows in the CSV", where=csv_path)
    return Dataset(records, source=csv_path)


def _is_header(row: list) -> bool:
    """A header has no number among x/y/height/width; a data row with one bad cell must fail, not vanish."""
    for text in row[2:6]:
        try:
            float(str(text))
            return False
        except ValueError:
            pass
    return True


def _record(row: tuple, images_dir: str, where: str, allow_absolute: bool) -> Record:
    x, y, height, width = (to_float(v, where, name) for v, name in zip(row[2:6], _NUMERIC))
    if width <= 0 or height <= 0:
        raise DataError(f"box width {width:g} and height {height:g} must both be positive", where=where)
    return Record(
        image=resolve_image_path(images_dir, row[1], where, allow_absolute=allow_absolute),
        source=where,
        box=corner_box(x, y, width, height),
        meta={"index": str(row[0]).strip()},
    )
