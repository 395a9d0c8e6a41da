"""A sixth task written the way README "Add a task" says, without touching jaxres/: count the dots.

Its own target kind (a count, regressed by one output, judged by mean absolute error against the
mean count), its own on-disk format (`counts.csv`: file,count beside the images), its own config and
its own synthetic set. Everything else (the command line, the frame cache, the device transform, the
training loop, checkpoints, eval, predict) is the engine's.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from jaxres import objectives, viz
from jaxres.data import device_augment, framed, framing
from jaxres.data.affine import warp_image
from jaxres.data.frame_cache import FrameSpec
from jaxres.data.images import load_image
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError
from jaxres.objectives.common import baseline_sample, record_name
from jaxres.config.task import Task
from jaxres.objectives import losses


class CountObjective:
    """A target kind: `record.meta["count"]`, one output, mean absolute error."""

    target = "count"
    DEFAULTS = {"scale": 10.0}  # counts are regressed as count / scale, so the output stays near 1

    def __init__(self, options: dict, facts: dict):
        self.options, self.size, self.channels = options, int(options["image_size"]), 1
        self.scale = float(options["scale"])

    @staticmethod
    def facts_of(train: Dataset) -> dict:
        return {}

    def model_options(self) -> dict:
        return {"head": "linear", "num_outputs": 1}

    def frame_spec(self) -> FrameSpec:
        return FrameSpec(side=self.size, channels=1, settings={"kind": "count", "size": self.size})

    def frame_of(self, record: Record, w: int, h: int) -> np.ndarray:
        return framing.stretched(w, h, self.size)

    def host_arrays(self, records, sizes: np.ndarray, train: bool) -> dict:
        frames = np.stack([framing.stretched(int(w), int(h), self.size) for w, h in sizes])
        counts = np.array([[r.meta.get("count", 0)] for r in records], np.float32)
        return framed.frame_arrays(frames, frames, train, count=counts / self.scale)

    def device_example(self, example: dict, key: jax.Array, train: bool) -> dict:
        to_frame = example["frame"]
        if train:  # a mirrored picture has as many dots
            mirror = device_augment.random_flip(key, 0.5)
            to_frame = jnp.where(mirror, to_frame @ device_augment.hflip(self.size), to_frame)
        out = {k: v for k, v in example.items() if k != "frame"}
        out["image"] = device_augment.render(example["image"], to_frame, self.size)
        return out

    def example(self, record: Record, rng, train: bool) -> dict:
        image = load_image(record.image, "L")
        matrix = self.frame_of(record, image.shape[1], image.shape[0])
        return {"image": warp_image(image, matrix, self.size), "count": np.float32([record.meta.get("count", 0) / self.scale]),
                "matrix": matrix.astype(np.float32)}

    output_name, needs_box = "count", False

    def view(self, w, h, box, ops):  # the photo stretched onto the square input
        return self.size / w, self.size / h, w * 0.0, h * 0.0

    def to_photo(self, outputs, view, ops):
        return outputs[..., 0] * self.scale

    def served(self, prediction, ops):
        return prediction

    def loss(self, outputs, batch):
        return losses.l1(outputs, batch["count"])

    def decode(self, outputs: np.ndarray, batch: dict) -> np.ndarray:
        return np.asarray(outputs, np.float64)[:, 0] * self.scale

    def evaluate(self, predictions: np.ndarray, dataset: Dataset) -> dict:
        truth = np.array([r.meta["count"] for r in dataset.records], np.float64)
        return {"mae": float(np.abs(predictions - truth).mean())}

    def baseline(self, train: Dataset, dataset: Dataset, matrices: np.ndarray) -> dict:
        records, _ = baseline_sample(train)
        mean = np.mean([r.meta["count"] for r in records])
        return self.evaluate(np.full(len(dataset), mean), dataset)

    def picture(self, record: Record, prediction: np.ndarray):
        image = viz.to_image(load_image(record.image, "RGB"))
        ImageDraw.Draw(image).text((2, 2), f"{float(prediction):.1f} / {record.meta.get('count', '?')}", fill=(255, 0, 0))
        return image

    def extra_pictures(self, folder, predictions: np.ndarray, dataset: Dataset) -> list:
        return []

    def table(self, dataset: Dataset, predictions: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"image": [record_name(r) for r in dataset.records], "count": predictions})


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
