"""Image classification folders `<root>/<split>/<class>/<image>` and flat prediction folders.

Splits: `train/`, `train_images/` or `train_set/`; `val/`, `valid/` or `validation/` (two at once is
an error). Classes follow `class_list` (a `Class,Category` CSV or a sequence of names) when given,
else the split's sorted folder names; names compare in Unicode NFC, and an empty class folder is refused."""

from __future__ import annotations

import os
import unicodedata
from typing import Sequence

from jaxres.data.readers._common import IMAGE_EXTENSIONS, csv_rows, file_stem, image_files, read_csv_strings
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError

_ALIASES = {"val": ("val", "valid", "validation")}
_SUFFIXES = ("", "_images", "_set")


def read_class_folders(
    root: str | os.PathLike, split: str, class_list: str | os.PathLike | Sequence[str] | None = None
) -> Dataset:
    """One record per image of `<root>/<split>/<class>/`, label = the class's index."""
    directory = _split_dir(os.path.abspath(os.fspath(root)), split)
    folders = _class_folders(directory)
    classes = _class_order(class_list) if class_list is not None else tuple(sorted(folders))
    index = {name: i for i, name in enumerate(classes)}
    loose = image_files(directory)
    records = []
    for name, folder in sorted(folders.items()):
        where = os.path.join(directory, folder)
        if name not in index:
            raise DataError(f"class folder {folder!r} is not in the class list ({len(classes)} classes)", where=where)
        images = image_files(where)
        if not images and not loose:  # loose images: the hint below says more
            raise DataError(f"class folder {folder!r} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); add its "
                            "images or remove the folder", where=where)
        records.extend(Record(image=p, source=p, label=index[name], meta={"id": file_stem(p)}) for p in images)
    if not records:
        hint = " (its images are not in class folders; use read_flat_folder)" if loose else ""
        raise DataError(f"no images in class folders of split {split!r}{hint}", where=directory)
    return Dataset(records, classes=classes, source=directory)


def read_flat_folder(root: str | os.PathLike) -> Dataset:
    """Every image directly in `root` (for prediction): label None, meta["id"] = the file stem."""
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise DataError("image folder not found", where=root)
    paths = image_files(root)
    if not paths:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in this folder", where=root)
    return Dataset([Record(image=p, source=p, meta={"id": file_stem(p)}) for p in paths], source=root)


def split_folder_names(split: str) -> tuple[str, ...]:
    """Folder names accepted for `split`, e.g. "val" -> val, val_images, val_set, valid, ..."""
    return tuple(base + suffix for base in _ALIASES.get(split, (split,)) for suffix in _SUFFIXES)


def _split_dir(root: str, split: str) -> str:
    if not os.path.isdir(root):
        raise DataError("data folder not found", where=root)
    candidates = split_folder_names(split)
    found = [c for c in candidates if os.path.isdir(os.path.join(root, c))]
    if not found:
        looked = ", ".join(c + "/" for c in candidates)
        raise DataError(f"no folder for split {split!r} (looked for {looked})", where=root)
    if len(found) > 1:
        raise DataError(f"several folders for split {split!r}: {found}; keep one", where=root)
    return os.path.join(root, found[0])


def _class_folders(directory: str) -> dict[str, str]:
    """{class name in NFC: folder name} of a split folder; two folders of one NFC name are refused."""
    folders: dict[str, str] = {}
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("."):
            name = unicodedata.normalize("NFC", entry.name)
            if name in folders:
                raise DataError(f"class folders {folders[name]!r} and {entry.name!r} differ only in Unicode "
                                "normalisation (NFC/NFD): they would be one class; merge them", where=entry.path)
            folders[name] = entry.name
    return folders


def _class_order(class_list) -> tuple[str, ...]:
    """The class names in label order, in NFC, each once: from a CSV file or a sequence of names."""
    if isinstance(class_list, (str, os.PathLike)):
        where = os.path.abspath(os.fspath(class_list))
        names = _classes_from_csv(where)
    else:
        where, names = "class_list", [unicodedata.normalize("NFC", str(c)) for c in class_list]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"the class list names {twice[:5]} more than once", where=where)
    return tuple(names)


def _classes_from_csv(path: str) -> list[str]:
    """`Class,Category` rows (name, index 0..N-1, any order) or a single column of names in order."""
    table = read_csv_strings(path)
    rows = [(where, unicodedata.normalize("NFC", str(row[0]).strip()), row) for where, row in csv_rows(table, path)]
    if table.shape[1] == 1:
        return [name for _, name, _ in rows]
    by_index: dict[int, str] = {}
    for where, name, row in rows:
        text = str(row[1]).strip()
        if not text.isdigit():
            raise DataError(f"class index {text!r} of {name!r} is not a whole number", where=where)
        if int(text) in by_index:
            raise DataError(f"class index {text} is given to {by_index[int(text)]!r} and {name!r}", where=where)
        by_index[int(text)] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise DataError(f"class indices must be 0..{len(by_index) - 1} without gaps", where=path)
    return [by_index[i] for i in range(len(by_index))]


def has_split(root: str | os.PathLike, split: str) -> bool:
    """Whether `root` has a folder for `split` under any of its usual names."""
    return any(os.path.isdir(os.path.join(os.fspath(root), name)) for name in split_folder_names(split))
