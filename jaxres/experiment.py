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

from jaxres import cache_paths, files, models, objectives
from jaxres.data import framed
from jaxres.data.pipeline import Loader
from jaxres.data.records import Dataset
from jaxres.errors import ConfigError, DataError, UserError
from jaxres.task import Task
from jaxres.train.precision import resolve_dtype

CONFIG_FILE = "config.json"


def synthetic_root(task: Task) -> pathlib.Path:
    return cache_paths.root() / "data" / task.name


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
    config["objective"].update(objective.derived_options(train))
    return config


PIPELINES = ("device", "host")
# pipeline: see `on_device`; cache_dir: where decoded frames live (None: `$JAXRES_CACHE/frames`).
DATA_DEFAULTS = {"pipeline": "device", "cache_dir": None}


def on_device(config: dict) -> bool:
    """`data.pipeline`: "device" (decode once into the frame cache, augment in the step; the default)
    or "host" (decode and augment every example on the host, each epoch)."""
    choice = config["data"].get("pipeline", "device")
    if choice not in PIPELINES:
        raise ConfigError(f"config key 'data.pipeline' takes one of {PIPELINES}, got {choice!r}")
    return choice == "device"


def input_transform(objective, config: dict, *, train: bool):
    """The jitted steps' `transform` for the device path (None on the host path)."""
    if not on_device(config):
        return None
    return framed.transform(objective, int(config["objective"].get("channels", 3)), train)


def load_frames(objective, records, config: dict, *, log=None):
    """The records' decoded frames from the cache (decoding what is missing); every process of a
    multi-host run decodes its share and reads the others' from a shared cache folder."""
    from jaxres.data import frame_cache
    from jaxres.train import parallel

    return frame_cache.load_or_build(
        records, objective.frame_spec(), objective.frame_of, root=cache_paths.frames_dir(config["data"].get("cache_dir")),
        workers=config["data"].get("workers"), process_index=jax.process_index(), process_count=jax.process_count(),
        barrier=parallel.barrier, log=log)


def make_loader(objective, dataset: Dataset, config: dict, *, train: bool, mesh=None, batch_size=None,
                frames=None, log=None) -> Loader:
    """Batches of `dataset`: gathered cached frames for the device path (`frames`, else loaded here),
    decoded and augmented examples for the host path."""
    from jaxres.train import parallel

    records = dataset.records
    size = batch_size or int(config["train"]["batch_size"])
    if on_device(config):
        frames = frames if frames is not None else load_frames(objective, records, config, log=log)
        source = {"make_batch": framed.build(objective, records, frames, train=train).batch}
    else:
        source = {"make_example": lambda i, rng: _example(objective, records[i], rng, train)}
    return Loader(
        len(records),
        **source,
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
    files.write_text(workdir / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True))


def load_workdir_config(workdir: pathlib.Path) -> dict:
    path = workdir / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"not a jaxres workdir (no {CONFIG_FILE}); train into it first", where=str(workdir))
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"unreadable {CONFIG_FILE}: {err}", where=str(path)) from err
