"""A sixth task written the way README "Add a task" says, without touching jaxres/: count the dots.

Its own objective (a count, regressed by one output, judged by mean absolute error against the
mean count), its own on-disk format (`counts.csv`: file,count beside the images), its own config and
its own synthetic set. Everything else (the command line, the frame cache, the device transform, the
training loop, checkpoints, eval, predict) is the engine's.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from jaxres import objectives
from jaxres.config.task import Task
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError
from jaxres.objectives import losses


class CountObjective(objectives.Objective):
    """An objective: `record.meta["count"]`, one output, mean absolute error."""

    # counts are regressed as count / scale, so the output stays near 1; a mirrored picture has as
    # many dots; the photo is stretched onto the square input
    DEFAULTS = {"scale": 10.0, "augment": {"flip_prob": 0.5}, "keep_aspect": False}
    output_name = "count"

    def model_options(self) -> dict:
        return {"head": "linear", "num_outputs": 1}

    def targets(self, records, base: np.ndarray) -> dict:
        return {"count": np.array([[r.meta.get("count", 0)] for r in records]) / self.options["scale"]}

    def loss(self, outputs, batch):
        return losses.l1(outputs, batch["count"])

    def to_photo(self, outputs, view, ops):
        return outputs[..., 0] * self.options["scale"]

    def evaluate(self, predictions: np.ndarray, dataset: Dataset) -> dict:
        truth = np.array([r.meta["count"] for r in dataset.records], np.float64)
        return {"mae": float(np.abs(predictions - truth).mean())}


objectives.register("count", CountObjective)


def get_config() -> dict:
    return {
        "model": {"arch": "resnet18", "weights": "none", "dtype": "auto", "head_options": {}},
        "objective": {"kind": "count", "image_size": 32, "channels": 1},
        "data": {"path": None, "val_fraction": 0.2, "eval_split": "test", "workers": None, "skip_bad": False},
        "train": {"epochs": 2, "batch_size": 8, "seed": 0, "log_every": 2},
        "optim": {"name": "adam", "lr": 1e-3},
        "checkpoint": {"keep": 1, "best_metric": "mae", "best_mode": "min"},
        "synthetic": {"generator": {"n_train": 48, "n_test": 16}, "overrides": {}},
    }


def read(path: pathlib.Path, split: str, config: dict) -> Dataset | None:
    """`<path>/<split>/counts.csv` with columns file,count."""
    table = path / split / "counts.csv"
    if not table.is_file():
        return None
    rows = pd.read_csv(table)
    records = []
    for row, (name, count) in enumerate(zip(rows["file"], rows["count"]), start=2):
        if not float(count).is_integer() or count < 0:
            raise DataError(f"count must be a whole number >= 0, got {count!r}", where=f"{table}:{row}")
        records.append(Record(str(table.parent / name), f"{table}:{row}", meta={"count": int(count), "id": name}))
    return Dataset(records, source=str(table))


def synthesize(root: pathlib.Path, config: dict) -> pathlib.Path:
    rng = np.random.default_rng(int(config["train"]["seed"]))
    for split, n in (("train", config["synthetic"]["generator"]["n_train"]),
                     ("test", config["synthetic"]["generator"]["n_test"])):
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(n):
            count = int(rng.integers(0, 6))
            image = Image.new("L", (48, 40))
            draw = ImageDraw.Draw(image)
            for x, y in rng.uniform(4, 36, size=(count, 2)):
                draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=255)
            image.save(folder / f"{i}.png")
            rows.append({"file": f"{i}.png", "count": count})
        pd.DataFrame(rows).to_csv(folder / "counts.csv", index=False)
    return root


TASK = Task("dots", get_config, read, synthesize, description=__doc__.splitlines()[0])
