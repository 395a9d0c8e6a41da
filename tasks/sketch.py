"""ImageNet-Sketch fine-tuning: ResNet-50 ImageNet + MLP head, staged unfreezing, top-1/top-5/F1.

Data: class folders `train/ val/ test/` (or the project's `train_images/ val_images/`), class order
from `data.class_list` (e.g. class2category.csv) else sorted names; or `tfds:imagenet_sketch`.
`predict` on a flat test folder writes the project's `Id,Category` CSV.
"""

from __future__ import annotations

import pathlib

from jaxres.cli.entry import main
from jaxres.data import readers
from jaxres.data.readers.folders import has_split
from .synthetic import sketches as synthetic_sketches
from jaxres.config.task import Task, task_config

sketch_config = task_config(__package__, "sketch")  # configs/sketch.py, beside this package


def read(path: pathlib.Path, split: str, config: dict):
    if str(path).startswith("tfds:"):
        return _read_tfds(str(path), split, config)
    if not has_split(path, split):
        return None
    return readers.read_class_folders(path, split, class_list=config["data"].get("class_list"))


def _read_tfds(spec: str, split: str, config: dict):
    tfds_split = {"train": "train", "val": config["data"].get("tfds_val_split"), "test": None}.get(split)
    return readers.read_tfds(spec, tfds_split) if tfds_split else None


def synthesize(root: pathlib.Path, config: dict) -> pathlib.Path:
    return synthetic_sketches.make(root, seed=int(config["train"]["seed"]), **config["synthetic"]["generator"])


TASK = Task("sketch", sketch_config.get_config, read, synthesize, description=__doc__.splitlines()[0])

if __name__ == "__main__":
    raise SystemExit(main(TASK))
