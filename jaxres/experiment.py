"""From a config and a task to the pieces a command needs: data splits, objective, model, loaders.

Shared by train, eval, predict and export, so every command sees the same model for a workdir.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib

import jax
import numpy as np

from jaxres import models, objectives
from jaxres.data.pipeline import Loader
from jaxres.data.records import Dataset
from jaxres.errors import DataError, UserError
from jaxres.task import Task
from jaxres.train.precision import resolve_dtype

CONFIG_FILE = "config.json"


def synthetic_root(task: Task) -> pathlib.Path:
    return pathlib.Path(os.environ.get("JAXRES_CACHE", "~/.cache/jaxres")).expanduser() / "data" / task.name


def resolve_data_path(task: Task, config: dict) -> pathlib.Path:
    """`data.path`, or the task's embedded synthetic set written in its real format."""
    path = config["data"].get("path")
    if path:
        if str(path).startswith("tfds:"):
            return pathlib.Path(path)
        path = pathlib.Path(path).expanduser()
        if not path.exists():
            raise DataError("data path does not exist", where=str(path))
        return path.resolve()
    return task.synthesize(synthetic_root(task), config)


def read_split(task: Task, path: pathlib.Path, split: str, config: dict) -> Dataset | None:
    dataset = task.read(path, split, config)
    if dataset is not None and len(dataset) == 0:
        raise DataError(f"split {split!r} is empty", where=str(path))
    return dataset


def train_val_split(task: Task, path: pathlib.Path, config: dict) -> tuple[Dataset, Dataset]:
    """The train split and a validation split: the layout's own, else a seeded share of train."""
    train = read_split(task, path, "train", config)
    if train is None:
        raise DataError("no training split found", where=str(path))
    val = read_split(task, path, "val", config)
    if val is not None:
        return train, val
    fraction = float(config["data"].get("val_fraction", 0.1))
    order = np.random.default_rng([int(config["train"]["seed"]), 2024]).permutation(len(train))
    n_val = max(1, int(round(fraction * len(train))))
    if len(train) - n_val < 1:
        raise DataError(f"only {len(train)} training record(s): too few to hold out a validation split", where=str(path))
    pick = lambda idx: dataclasses.replace(train, records=[train.records[i] for i in sorted(idx)])  # noqa: E731
    return pick(order[n_val:]), pick(order[:n_val])


def eval_split(task: Task, path: pathlib.Path, config: dict, split: str | None) -> tuple[str, Dataset]:
    """The split `eval` reports on: the one asked for, else the config's, else validation."""
    wanted = split or config["data"].get("eval_split", "test")
    if wanted != "val":
        dataset = read_split(task, path, wanted, config)
        if dataset is not None:
            return wanted, dataset
        if split:
            raise DataError(f"the data set has no split {split!r}", where=str(path))
    return "val", train_val_split(task, path, config)[1]


def build_model(config: dict):
    options = dict(config["model"].get("head_options", {}))
    options.update(config["model"]["resolved"])
    return models.create(
        config["model"]["arch"],
        in_channels=int(config["objective"].get("channels", 3)),
        dtype=resolve_dtype(config["model"].get("dtype", "auto")),
        **options,
    )


def build_objective(config: dict):
    objective = objectives.create(config["objective"])
    if config["model"].get("classes"):
        objective.classes = tuple(config["model"]["classes"])
    return objective


def resolve_model_options(config: dict, objective, train: Dataset) -> dict:
    """Fill `model.resolved` (outputs, head) and `model.classes` from the training data."""
    config = json.loads(json.dumps(config))
    config["model"]["resolved"] = objective.model_options(train)
    if train.classes:
        config["model"]["classes"] = list(train.classes)
    if config["objective"]["kind"] == "keypoints":
        config["objective"]["num_keypoints"] = config["model"]["resolved"]["num_keypoints"]
    return config


def make_loader(objective, dataset: Dataset, config: dict, *, train: bool, mesh=None, batch_size=None) -> Loader:
    from jaxres.train import parallel

    records = dataset.records
    size = batch_size or int(config["train"]["batch_size"])
    return Loader(
        len(records),
        lambda i, rng: _example(objective, records[i], rng, train),
        batch_size=size,
        seed=int(config["train"]["seed"]),
        shuffle=train,
        drop_last=train,
        workers=config["data"].get("workers"),
        sharding=parallel.batch_sharding(mesh) if mesh is not None else None,
    )


def _example(objective, record, rng, train: bool) -> dict:
    """The objective's example; an image that fails only now (a truncated body passes the header-only
    validation) is reported at the record's file and row, like every other bad record."""
    try:
        return objective.example(record, rng, train)
    except DataError as err:
        if not record.source or str(err).startswith(f"{record.source}:"):
            raise
        raise DataError(str(err), where=record.source) from None


def eval_batch_size(config: dict, n: int) -> int:
    """Eval batches: the training size, but no larger than the split, rounded to the device count."""
    devices = jax.device_count()
    size = min(int(config["train"]["batch_size"]), max(n, 1))
    return max(devices, (size + devices - 1) // devices * devices)


def save_config(workdir: pathlib.Path, config: dict) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = workdir / f".{CONFIG_FILE}.tmp"
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True))
    os.replace(tmp, workdir / CONFIG_FILE)


def load_workdir_config(workdir: pathlib.Path) -> dict:
    path = workdir / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"not a jaxres workdir (no {CONFIG_FILE}); train into it first", where=str(workdir))
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"unreadable {CONFIG_FILE}: {err}", where=str(path)) from err
