"""`predict`: a CSV in original-image pixels (or top-k classes) plus overlay PNGs per input image.

INPUT may be image files, folders of images (read flat), or an annotation file of the task's format
(the task's reader is used, so face boxes from an XML crop the faces as in training).
"""

from __future__ import annotations

import pathlib


from jaxres import evaluation, files, viz
from jaxres.commands.restore import trained
from jaxres.data import frame_cache
from jaxres.data.consistency import align_classes, check_same_points
from jaxres.data.readers import read_flat_folder
from jaxres.data.readers._common import IMAGE_EXTENSIONS
from jaxres.data.records import Dataset, Record
from jaxres.commands import guards
from jaxres.errors import DataError, UserError
from jaxres.objectives.common import record_name



def predict(task, args) -> int:
    built, variables = trained(args.workdir)
    objective = built.objective
    dataset = _inputs(task, [pathlib.Path(p) for p in args.inputs], built)
    out, csv_path = pathlib.Path(args.out), pathlib.Path(args.out) / "predictions.csv"
    overlays = [out / f"{pathlib.Path(record_name(record)).stem}_pred.png" for record in dataset.records]
    _check_targets(args, out, [csv_path, *overlays], [r.source for r in dataset.records])
    predictions = evaluation.predictions(built, variables, dataset, built.eval_loader(dataset, frames=_frames(built, dataset)))
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(objective.table(dataset, predictions), csv_path)
    for record, prediction, overlay in zip(dataset.records, predictions, overlays):
        viz.save_png(objective.picture(record, prediction), overlay)
    print(f"wrote {csv_path} ({len(dataset)} rows) and {len(dataset)} overlay PNGs in {out}")
    return 0


def _frames(built, dataset: Dataset):
    """A few inputs decoded in memory on the device path: predict's images are not a data set that
    later runs reuse, so they stay out of the shared frame cache."""
    if not built.on_device:
        return None
    return frame_cache.in_memory(dataset.records, built.objective.frame_spec(), built.objective.frame_of,
                                 workers=built.config["data"]["workers"])


def _check_targets(args, out: pathlib.Path, targets: list[pathlib.Path], sources: list[str]) -> None:
    """Before any compute: not into the workdir, one overlay per input, no earlier file replaced
    without --force."""
    guards.outside_workdir(out, pathlib.Path(args.workdir))
    if out.exists() and not out.is_dir():
        raise UserError("--out must be a folder, but it is a file", where=str(out))
    guards.distinct_names([t.name for t in targets[1:]], sources, "the overlay")
    guards.new_outputs(targets, getattr(args, "force", False), "a prediction file")


def _inputs(task, paths: list[pathlib.Path], built) -> Dataset:
    records: list[Record] = []
    for path in paths:
        if not path.exists():
            raise DataError("input does not exist", where=str(path))
        if path.is_dir():
            records += read_flat_folder(path).records
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            records.append(Record(image=str(path.resolve()), source=str(path), meta={"id": path.stem}))
        else:
            dataset = task.read(path, "test", built.config) or task.read(path, "train", built.config)
            if dataset is None:
                raise DataError("not an image, a folder or an annotation file this task reads", where=str(path))
            records += _like_the_model(dataset, built.facts).records
    if not records:
        raise DataError("no images found in the inputs", where=", ".join(map(str, paths)))
    return Dataset(records, classes=tuple(built.facts.classes or ()) or None)


def _like_the_model(dataset: Dataset, facts) -> Dataset:
    """An annotation file's records with the model's point count and labels mapped by class name onto
    the model's classes, so the truth drawn beside each prediction means what the model's outputs mean."""
    check_same_points(dataset, facts.num_keypoints, "input")
    return align_classes(dataset, facts.classes, "input")


def _write_csv(frame, path: pathlib.Path) -> None:
    """Atomically: a killed run never leaves a CSV that looks complete."""
    with files.atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.3f")