"""Box regression: ResNet-50 (from scratch as the original, or ImageNet), one box per image, IoU.

Data: a CSV with an index column, the image path, then x, y, height, width in pixels (the box
project's order: height before width), or a folder with train.csv (and val.csv / test.csv).
"""

from __future__ import annotations

import pathlib

from jaxres.cli.entry import main
from jaxres.data import readers
from .synthetic import boxes as synthetic_boxes
from jaxres.config.task import Task, task_config

bbox_config = task_config(__package__, "bbox")  # configs/bbox.py, beside this package


def read(path: pathlib.Path, split: str, config: dict):
    images, trusted = config["data"].get("images"), bool(config["data"]["allow_absolute_paths"])
    csv = path if path.is_file() else path / f"{split}.csv"
    if (path.is_file() and split != "train") or not csv.is_file():
        return None
    return readers.read_box_csv(csv, images, allow_absolute_paths=trusted)


def synthesize(root: pathlib.Path, config: dict) -> pathlib.Path:
    return synthetic_boxes.make(root, seed=int(config["train"]["seed"]), **config["synthetic"]["generator"])


TASK = Task("bbox", bbox_config.get_config, read, synthesize, description=__doc__.splitlines()[0])

if __name__ == "__main__":
    raise SystemExit(main(TASK))
