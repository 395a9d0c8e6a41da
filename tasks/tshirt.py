"""T-shirt keypoints: ResNet-50 ImageNet, 12 (x, y) points from `points_24.csv`, PCK and pixel error.

Data: the original folder (`points_24.csv` + `t-shirt_resized_train/`), or a keypoint CSV file with
`--set data.images=DIR`. Coordinates may be negative or decimal (the original regex dropped both).
Beside `points_24.csv`, `points_24_val.csv` is the validation split (else a share of the training
rows) and `points_24_test.csv` the held-out test split that `eval` scores (else validation).
"""

from __future__ import annotations

import pathlib

from jaxres.cli.entry import main
from jaxres.data import readers
from .synthetic import tshirts as synthetic_tshirts
from jaxres.config.task import Task, task_config

tshirt_config = task_config(__package__, "tshirt")  # configs/tshirt.py, beside this package

# split -> its CSV beside points_24.csv, in the same format; the original project had neither.
SPLIT_CSVS = {"val": "points_24_val.csv", "test": "points_24_test.csv"}


def read(path: pathlib.Path, split: str, config: dict):
    images, trusted = config["data"].get("images"), bool(config["data"]["allow_absolute_paths"])
    if path.is_file():
        return readers.read_keypoint_csv(path, images, allow_absolute_paths=trusted) if split == "train" else None
    if split == "train":
        if images is None:
            return readers.read_keypoint_folder(path, allow_absolute_paths=trusted)
        return readers.read_keypoint_csv(path / "points_24.csv", images, allow_absolute_paths=trusted)
    if split in SPLIT_CSVS and (path / SPLIT_CSVS[split]).is_file():
        return readers.read_keypoint_csv(path / SPLIT_CSVS[split], images, allow_absolute_paths=trusted)
    return None


def synthesize(root: pathlib.Path, config: dict) -> pathlib.Path:
    return synthetic_tshirts.make(root, seed=int(config["train"]["seed"]), **config["synthetic"]["generator"])


TASK = Task("tshirt", tshirt_config.get_config, read, synthesize, description=__doc__.splitlines()[0])

if __name__ == "__main__":
    raise SystemExit(main(TASK))
