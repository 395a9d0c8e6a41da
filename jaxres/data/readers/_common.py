"""Helpers the readers share; every problem is a `DataError(where="file:line")` with the line an editor
shows (the header is line 1)."""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pandas as pd

from jaxres.errors import DataError

# The one list of image files jaxres reads (folders, 300-W trees, CSV columns, predict inputs).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"})

# A pandas tokenizer error names the physical line: "Expected 3 fields in line 7, saw 4".
_PANDAS_LINE = re.compile(r"line (\d+)")


def read_csv_strings(path: str, *, header: int | None = 0) -> pd.DataFrame:
    """A CSV with every cell a string, blank lines kept as empty rows so `csv_rows` names the file's line."""
    if not os.path.isfile(path):
        raise DataError("file not found", where=path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, header=header, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise DataError("the CSV file is empty", where=path) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        match = _PANDAS_LINE.search(str(err))
        where = f"{path}:{match.group(1)}" if match else path
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise DataError(f"not a readable CSV file ({first})", where=where) from None


def csv_rows(table: pd.DataFrame, path: str, *, has_header: bool = True, skip: int = 0):
    """("file:line", cells) of each non-blank data row from `skip` on (one line per row, header on line 1)."""
    first_line = 2 if has_header else 1
    for i, row in enumerate(table.itertuples(index=False, name=None)):
        if i >= skip and not all(str(v).strip() == "" for v in row):
            yield f"{path}:{i + first_line}", row


def read_bytes(path: str) -> bytes:
    """The file's bytes, or a DataError saying it is missing or unreadable."""
    if not os.path.isfile(path):
        raise DataError("file not found", where=path)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise DataError(f"cannot read the file ({err.strerror or err})", where=path) from None


def annotation_paths(path, images_dir) -> tuple[str, str]:
    """The annotation file's absolute path and the image folder (default: the file's folder)."""
    path = os.path.abspath(os.fspath(path))
    return path, os.path.abspath(os.fspath(images_dir)) if images_dir is not None else os.path.dirname(path)


def corner_box(x: float, y: float, width: float, height: float) -> np.ndarray:
    """(x0, y0, x1, y1) float32 from a left/top corner and a size, as `Record.box` holds it."""
    return np.asarray([x, y, x + width, y + height], dtype=np.float32)


def image_files(directory: str) -> list[str]:
    """Sorted paths of the image files directly in `directory` (hidden files left out)."""
    return sorted(
        e.path for e in os.scandir(directory)
        if e.is_file() and not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
    )


def file_stem(path) -> str:
    """The file name without folder and extension: a record's `meta["id"]`, as predictions name it."""
    name = path.decode() if isinstance(path, bytes) else str(path)
    return os.path.splitext(os.path.basename(name))[0]


def to_float(text, where: str, what: str) -> float:
    """A finite float, or a DataError that quotes the cell and says which value it was."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or str(text).strip() == "":
        raise DataError(f"{what} is missing", where=where)
    try:
        value = float(str(text).strip().strip("'\""))
    except ValueError:
        raise DataError(f"{what}: {str(text).strip()!r} is not a number", where=where) from None
    if not math.isfinite(value):
        raise DataError(f"{what} is {value} (must be a finite number)", where=where)
    return value


def resolve_image_path(root: str, name: str, where: str, *, allow_absolute: bool) -> str:
    """`name` joined to `root`, refusing absolute paths and `..` escapes unless allowed (a lexical check,
    so a symlink inside the root still works)."""
    name = str(name).strip()
    if not name:
        raise DataError("empty image path", where=where)
    joined = os.path.normpath(os.path.join(root, name))
    if allow_absolute:
        return os.path.abspath(joined)
    root_abs = os.path.abspath(root)
    inside = os.path.commonpath([root_abs, os.path.abspath(joined)]) == root_abs
    if os.path.isabs(name) or not inside:
        raise DataError(
            f"image path {name!r} leaves the data folder {root_abs}; if the file is trusted, allow it with "
            "--set data.allow_absolute_paths=true (Python: allow_absolute_paths=True)",
            where=where,
        )
    return os.path.abspath(joined)
