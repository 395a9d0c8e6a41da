"""`predict`: a CSV in original-image pixels (or top-k classes) plus overlay PNGs per input image.

INPUT may be image files, folders of images (read flat), or an annotation file of the task's format
(the task's reader is used, so face boxes from an XML crop the faces as in training).
"""

from __future__ import annotations

import os
import pathlib
import tempfile


from jaxres import evaluation, viz
from jaxres.commands.restore import load_trained
from jaxres.data.readers import read_flat_folder
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError
from jaxres.objectives.common import record_name

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def predict(task, args) -> int:
    config, model, objective, variables = load_trained(args.workdir)
    dataset = _inputs(task, [pathlib.Path(p) for p in args.inputs], config)
    outputs, extras = evaluation.run_outputs(model, variables, objective, dataset, config)
    predictions = objective.decode(outputs, extras)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "predictions.csv"
    _write_csv(objective.table(dataset, predictions), csv_path)
    for record, prediction in zip(dataset.records, predictions):
        viz.save_png(objective.picture(record, prediction), out / f"{pathlib.Path(record_name(record)).stem}_pred.png")
    print(f"wrote {csv_path} ({len(dataset)} rows) and {len(dataset)} overlay PNGs in {out}")
    return 0


def _inputs(task, paths: list[pathlib.Path], config: dict) -> Dataset:
    records: list[Record] = []
    for path in paths:
        if not path.exists():
            raise DataError("input does not exist", where=str(path))
        if path.is_dir():
            records += read_flat_folder(path).records
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            records.append(Record(image=str(path.resolve()), source=str(path), meta={"id": path.stem}))
        else:
            dataset = task.read(path, "test", config) or task.read(path, "train", config)
            if dataset is None:
                raise DataError("not an image, a folder or an annotation file this task reads", where=str(path))
            records += dataset.records
    if not records:
        raise DataError("no images found in the inputs", where=", ".join(map(str, paths)))
    return Dataset(records, classes=tuple(config["model"].get("classes") or ()) or None)


def _write_csv(frame, path: pathlib.Path) -> None:
    """Through a temp file and a rename: a killed run never leaves a CSV that looks complete."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False, float_format="%.3f")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
