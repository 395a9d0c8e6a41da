"""SIGNS hand-sign HDF5 files (`train_signs.h5`, `test_signs.h5`) and look-alikes, as in-memory records.

Keys: `<split>_set_x` (m, 64, 64, 3) uint8, `<split>_set_y` (m,) or (1, m), `list_classes`. When
`list_classes` holds numbers a y is a class VALUE (label = its position), when names y is the index;
without it the classes are 0..max(y). `source` is "<file>[<x key>][<row>]". External or soft links
and datasets declaring far more bytes than the file holds are refused before any array is read."""

from __future__ import annotations

import os

import numpy as np

from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError

_SPLITS = ("train", "test")


def read_signs_h5(path: str | os.PathLike, split: str | None = None) -> Dataset:
    """Read one split; `split=None` takes the one the file holds (an error if it holds both)."""
    path = os.path.abspath(os.fspath(path))
    h5py = _h5py()
    try:
        handle = h5py.File(path, "r")
    except FileNotFoundError:
        raise DataError("file not found", where=path) from None
    except OSError as err:
        raise DataError(f"not an HDF5 file ({str(err).splitlines()[0]})", where=path) from None
    with handle:
        x_key, y_key = _keys(handle, path, split)
        try:
            images = _images(handle, x_key, path)
            values = _labels(handle, y_key, path, len(images))
            classes, labels = _classes(handle, values, path, y_key)
        except (OSError, KeyError, RuntimeError, TypeError) as err:
            raise DataError(f"unreadable HDF5 data ({type(err).__name__}: {str(err)[:160]})", where=path) from None
    records = [Record(image=images[i], source=f"{path}[{x_key}][{i}]", label=int(labels[i]), meta={"index": i})
               for i in range(len(images))]
    return Dataset(records, classes=classes, source=path)


def _h5py():
    import h5py  # a core dependency; imported here so that `jaxres.data.readers` stays cheap to import

    return h5py


def _keys(handle, path: str, split: str | None) -> tuple[str, str]:
    if split is not None and split not in _SPLITS:
        raise DataError(f"unknown split {split!r}; the file format has {list(_SPLITS)}", where=path)
    present = [s for s in _SPLITS if _has(handle, f"{s}_set_x")]
    if split is None:
        if len(present) != 1:
            raise DataError(
                f"expected exactly one of train_set_x / test_set_x, found keys {sorted(handle.keys())}; "
                "pass split='train' or 'test'",
                where=path,
            )
        split = present[0]
    x_key, y_key = f"{split}_set_x", f"{split}_set_y"
    for key in (x_key, y_key):
        if not _has(handle, key):
            raise DataError(f"missing key {key!r} (keys present: {sorted(handle.keys())})", where=path)
    return x_key, y_key


# A stored dataset may be compressed, but not by more than this (uint8 photos compress ~2-10x).
_MAX_RATIO, _SMALL = 1000, 64 << 20


def _has(handle, key: str) -> bool:
    """Whether a link named `key` exists, even one that does not resolve (`in` says False for those)."""
    return handle.get(key, getlink=True) is not None


def _array(handle, key: str, path: str) -> np.ndarray:
    """`handle[key]` read, after checking it is a dataset in this file of a size the file can hold."""
    h5py = _h5py()
    link = handle.get(key, getlink=True)
    if not isinstance(link, h5py.HardLink):
        raise DataError(f"{type(link).__name__} to another location; copy the data into this file",
                        where=f"{path}[{key}]")
    dataset = handle[key]
    if not isinstance(dataset, h5py.Dataset):
        raise DataError("is a group, expected a dataset", where=f"{path}[{key}]")
    declared = int(np.prod(dataset.shape, dtype=np.float64)) * dataset.dtype.itemsize
    stored = dataset.id.get_storage_size()
    if declared > _SMALL and declared > _MAX_RATIO * stored:
        raise DataError(f"declares {dataset.shape} {dataset.dtype} ({declared / 2**30:.1f} GiB) but stores "
                        f"{stored} bytes: a damaged or hostile file", where=f"{path}[{key}]")
    return np.asarray(dataset)


def _images(handle, key: str, path: str) -> np.ndarray:
    data = _array(handle, key, path)
    if data.ndim != 4 or data.shape[-1] not in (1, 3) or data.dtype != np.uint8:
        raise DataError(f"expected (m, H, W, 3) uint8 images, got {data.shape} {data.dtype}", where=f"{path}[{key}]")
    return data


def _labels(handle, key: str, path: str, count: int) -> np.ndarray:
    data = _array(handle, key, path)
    if data.ndim == 2 and 1 in data.shape:
        data = data.reshape(-1)
    if data.ndim != 1 or not np.issubdtype(data.dtype, np.integer):
        raise DataError(f"expected (m,) or (1, m) integer labels, got {data.shape} {data.dtype}",
                        where=f"{path}[{key}]")
    if len(data) != count:
        raise DataError(f"{len(data)} labels for {count} images", where=f"{path}[{key}]")
    return data


def _classes(handle, values: np.ndarray, path: str, y_key: str) -> tuple[tuple[str, ...], np.ndarray]:
    if not _has(handle, "list_classes"):
        return tuple(str(c) for c in range(int(values.max(initial=-1)) + 1)), values
    listed = _array(handle, "list_classes", path).reshape(-1)
    names = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in listed.tolist())
    if np.issubdtype(listed.dtype, np.number):
        lookup = {v: i for i, v in enumerate(listed.tolist())}
        labels = np.asarray([lookup.get(v, -1) for v in values.tolist()])
    else:
        labels = np.where((values >= 0) & (values < len(names)), values, -1)
    bad = np.flatnonzero(labels < 0)
    if bad.size:
        i = int(bad[0])
        raise DataError(f"label {values[i]} is not in list_classes {list(names)}", where=f"{path}[{y_key}][{i}]")
    return names, labels
