"""SIGNS hand signs: ResNet-50 from scratch at 64×64, 6 classes, accuracy, F1, confusion matrix.

Data: a folder with `train_signs.h5` and `test_signs.h5` (the course files), or one .h5 file.
Validation is split from train by seed; the model is selected on validation, reported on test.
"""

from __future__ import annotations

import pathlib

from jaxres.cli.entry import main
from jaxres.data import readers
from .synthetic import signs as synthetic_signs
from jaxres.config.task import Task, task_config

signs_config = task_config(__package__, "signs")  # configs/signs.py, beside this package

FILES = {"train": "train_signs.h5", "test": "test_signs.h5"}


def read(path: pathlib.Path, split: str, config: dict):
    if path.is_file():
        return readers.read_signs_h5(path) if split == "train" else None
    name = FILES.get(split)
    return readers.read_signs_h5(path / name, split) if name and (path / name).is_file() else None


def synthesize(root: pathlib.Path, config: dict) -> pathlib.Path:
    return synthetic_signs.make(root, seed=int(config["train"]["seed"]), **config["synthetic"]["generator"])


TASK = Task("signs", signs_config.get_config, read, synthesize, description=__doc__.splitlines()[0])

if __name__ == "__main__":
    raise SystemExit(main(TASK))
