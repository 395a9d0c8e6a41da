"""TensorFlow Datasets classification sets (`tfds:imagenet_sketch`) as in-memory uint8 records, through
the optional `tfds` extra; nothing is downloaded unless `download=True`."""

from __future__ import annotations

import os

import numpy as np

from jaxres.data.readers._common import file_stem
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError, UserError

PREFIX = "tfds:"


def read_tfds(name: str, split: str, data_dir: str | os.PathLike | None = None, *, download: bool = False) -> Dataset:
    """Records of `split` of the TFDS set `name` ("tfds:imagenet_sketch" or "imagenet_sketch")."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise UserError("reading tfds: data sets needs TensorFlow Datasets: pip install 'jaxres[tfds]'") from None
    name = name.removeprefix(PREFIX)
    where = f"{PREFIX}{name}"
    try:
        builder = tfds.builder(name, data_dir=os.fspath(data_dir) if data_dir is not None else None)
    except Exception as err:  # tfds raises its own DatasetNotFoundError, ValueError, ... depending on version
        raise DataError(f"unknown TFDS data set ({str(err).splitlines()[0]})", where=where) from None
    if not builder.is_prepared() and download:
        builder.download_and_prepare()
    image_key, label_key = _feature_keys(tfds, builder.info.features, where)
    classes = tuple(builder.info.features[label_key].names)
    records = []
    for i, example in enumerate(_examples(tfds, builder, name, split, f"{where}/{split}")):
        meta = {"id": file_stem(example["file_name"])} if "file_name" in example else {}
        image, label = np.asarray(example[image_key]), int(example[label_key])
        records.append(Record(image=image, source=f"{where}/{split}[{i}]", label=label, meta=meta))
    if not records:
        raise DataError("the split is empty", where=f"{where}/{split}")
    return Dataset(records, classes=classes, source=f"{where}/{split}")


def _feature_keys(tfds, features, where: str) -> tuple[str, str]:
    """The first image and the first class-label feature, whatever the set calls them."""
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not images or not labels:
        raise DataError(f"needs an Image and a ClassLabel feature, has {list(features.keys())}", where=where)
    return images[0], labels[0]


def _examples(tfds, builder, name: str, split: str, where: str):
    """Dicts of numpy values, from the random-access data source first (TFDS's mock data replaces it),
    so array_record sets need no TensorFlow."""
    try:
        return builder.as_data_source(split=split)
    except Exception:  # tfrecord files (tf.data below), nothing prepared or no such split (checked next)
        pass
    if not builder.is_prepared():
        raise DataError(
            f"not prepared in {builder.data_dir_root}; run `tfds build {name}` or pass download=True", where=where
        )
    if split.split("[")[0] not in builder.info.splits:  # "train[:10%]" slices are fine
        raise DataError(f"no split {split!r}; the set has {sorted(builder.info.splits)}", where=where)
    try:
        return tfds.as_numpy(builder.as_dataset(split=split))
    except ImportError:
        raise UserError(
            "this TFDS set is stored as tfrecord, which needs TensorFlow: pip install 'jaxres[tfds]'"
        ) from None
