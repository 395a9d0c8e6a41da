"""Every split a command will use, read and validated before the first step or the first batch.

`train` used to read its test split only after training, so a bad test file failed after the whole
run and test rows were never validated. Here train, validation and the evaluation split are read
up front, each validated (`data.validate`), checked for the training point count and re-labelled by
class name onto the training classes (`data.consistency`).
"""

from __future__ import annotations

import dataclasses
import sys

from jaxres import experiment
from jaxres.data.consistency import align_classes, check_same_points, usual_point_count
from jaxres.data.records import Dataset
from jaxres.data.validate import validate
from jaxres.errors import DataError
from jaxres.train import parallel


@dataclasses.dataclass(frozen=True)
class Splits:
    train: Dataset
    val: Dataset
    eval_name: str
    eval: Dataset


def training_splits(task, path, config: dict, skip_bad: bool) -> Splits:
    """Train, validation and the evaluation split of a training run, all checked."""
    skip = skip_bad or bool(config["data"].get("skip_bad", False))
    train, val = experiment.train_val_split(task, path, config)
    train = _checked(train, "train", skip)
    classes, points = train.classes, usual_point_count(train)
    val = _checked(_agreeing(val, "val", classes, points), "val", skip)
    name, held_out = _eval_split(task, path, config, None)
    held_out = val if held_out is None else _checked(_agreeing(held_out, name, classes, points), name, skip)
    return Splits(train, val, name if held_out is not val else "val", held_out)


def eval_splits(task, path, config: dict, split: str | None) -> tuple[str, Dataset, Dataset]:
    """(name, evaluation split, train split) for `eval`, labelled like the model (`model.classes`)."""
    skip = bool(config["data"].get("skip_bad", False))
    classes, points = config["model"].get("classes"), config["objective"].get("num_keypoints")
    train, val = experiment.train_val_split(task, path, config)
    train = _agreeing(train, "train", classes, points)
    name, dataset = _eval_split(task, path, config, split)
    if dataset is None:
        name, dataset = "val", val
    return name, _checked(_agreeing(dataset, name, classes, points), name, skip), train


def _eval_split(task, path, config: dict, split: str | None):
    """(name, dataset) of the asked or configured split; (\"val\", None) when it is the validation split."""
    wanted = split or config["data"].get("eval_split", "test")
    if wanted == "val":
        return "val", None
    dataset = experiment.read_split(task, path, wanted, config)
    if dataset is None and split:
        raise DataError(f"the data set has no split {split!r}", where=str(path))
    return (wanted, dataset) if dataset is not None else ("val", None)


def _agreeing(dataset: Dataset, name: str, classes, points) -> Dataset:
    if points:
        check_same_points(dataset, int(points), name)
    return align_classes(dataset, classes, name)


def _checked(dataset: Dataset, name: str, skip: bool) -> Dataset:
    good, bad = validate(dataset, skip_bad=skip)
    if bad and parallel.is_primary():
        print(f"skipped {len(bad)} bad {name} record(s):\n  " + "\n  ".join(bad[:20]), file=sys.stdout, flush=True)
    return good
