"""Every split a command uses (`data.path` or the task's embedded set), read and validated before the first step."""

from __future__ import annotations

import dataclasses
import pathlib
import sys

from jaxres.config.task import Task
from jaxres.data.consistency import align_classes, check_same_points, hold_out, repeated_records, usual_point_count
from jaxres.data.records import Dataset
from jaxres.data.validate import validate
from jaxres.errors import DataError
from jaxres.platform import cache_paths
from jaxres.train import parallel
from jaxres.train.progress import Ticker


@dataclasses.dataclass(frozen=True)
class Splits:
    train: Dataset
    val: Dataset
    eval_name: str
    eval: Dataset


def synthetic_root(task: Task) -> pathlib.Path:
    """Where the task's embedded synthetic set is written."""
    return cache_paths.root() / "data" / task.name


def resolve_data_path(task: Task, config: dict) -> pathlib.Path:
    """`data.path`, or the task's embedded synthetic set written in its real format."""
    path = config["data"]["path"]
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
        _warn_repeated(train, val)
        return train, val
    kept, held = hold_out(train.records, float(config["data"]["val_fraction"]), int(config["train"]["seed"]))
    if not kept:
        raise DataError(f"only {len(train)} training record(s) ({len(held)} held out for validation, with the "
                        "records of the same images): too few to hold out a validation split", where=str(path))
    pick = lambda idx: dataclasses.replace(train, records=[train.records[i] for i in idx])  # noqa: E731
    return pick(kept), pick(held)


def _warn_repeated(train: Dataset, val: Dataset) -> None:
    """One line when the data set's own val file repeats training records: a warning, not a refusal,
    since a data set's split is its authors' benchmark (published scores use it as it ships)."""
    pairs = repeated_records(train, val)
    if pairs and parallel.is_primary():
        shown = ", ".join(f"{v.source} = {t.source}" for v, t in pairs[:3]) + (", ..." if len(pairs) > 3 else "")
        print(f"warning: {len(pairs)} val record(s) repeat training records ({shown}): the validation score "
              "includes records the model trained on; remove them from one file for a fair score",
              file=sys.stderr, flush=True)


def training_splits(task, path, config: dict, skip_bad: bool) -> Splits:
    """Train, validation and the evaluation split of a training run, all checked."""
    skip = skip_bad or bool(config["data"]["skip_bad"])
    train, val = train_val_split(task, path, config)
    train = _checked(train, "train", skip)
    classes, points = train.classes, usual_point_count(train)
    val = _checked(_agreeing(val, "val", classes, points), "val", skip)
    name, held_out = _eval_split(task, path, config, None)
    held_out = val if held_out is None else _checked(_agreeing(held_out, name, classes, points), name, skip)
    return Splits(train, val, name if held_out is not val else "val", held_out)


def eval_splits(task, path, config: dict, facts, split: str | None) -> tuple[str, Dataset, Dataset]:
    """(name, evaluation split, train split) for `eval`, labelled like the model (its data `facts`)."""
    skip = bool(config["data"]["skip_bad"])
    classes, points = facts.classes, facts.num_keypoints
    train, val = train_val_split(task, path, config)
    train = _agreeing(train, "train", classes, points)
    name, dataset = _eval_split(task, path, config, split)
    if dataset is None:
        name, dataset = "val", val
    return name, _checked(_agreeing(dataset, name, classes, points), name, skip), train


def whole_file(task, path: pathlib.Path, config: dict, facts) -> tuple[str, Dataset, Dataset]:
    """(name, every record of the annotation file `path`, the same records as the baseline's
    "training" set) for `eval --data FILE`: a file given to be scored is scored whole, not split."""
    dataset = read_split(task, path, "test", config) or read_split(task, path, "train", config)
    if dataset is None:
        raise DataError("not an annotation file this task reads", where=str(path))
    dataset = _checked(_agreeing(dataset, path.name, facts.classes, facts.num_keypoints), path.name,
                       bool(config["data"]["skip_bad"]))
    return f"{path}, every record", dataset, dataset


def _eval_split(task, path, config: dict, split: str | None):
    """(name, dataset) of the asked or configured split; (\"val\", None) when it is the validation split."""
    wanted = split or config["data"]["eval_split"]
    if wanted == "val":
        return "val", None
    dataset = read_split(task, path, wanted, config)
    if dataset is None and split:
        found = [name for name in ("train", "val", "test") if task.read(path, name, config) is not None]
        found += [] if "val" in found or "train" not in found else ["val (held out of train)"]
        raise DataError(f"the data set has no split {split!r}; it has: {', '.join(found)}", where=str(path))
    return (wanted, dataset) if dataset is not None else ("val", None)


def _agreeing(dataset: Dataset, name: str, classes, points) -> Dataset:
    if points:
        check_same_points(dataset, int(points), name)
    return align_classes(dataset, classes, name)


def _checked(dataset: Dataset, name: str, skip: bool) -> Dataset:
    with Ticker(f"validating the {name} records", len(dataset), enabled=parallel.is_primary()) as ticker:
        good, bad = validate(dataset, skip_bad=skip, tick=ticker.tick)
    if bad and parallel.is_primary():
        print(f"skipped {len(bad)} bad {name} record(s):\n  " + "\n  ".join(bad[:20]), file=sys.stdout, flush=True)
    return good
