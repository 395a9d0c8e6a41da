"""`predict`: a CSV in original-image pixels (or top-k classes) and an overlay PNG per photo, from
`jaxres.load`; INPUT is images, folders, or an annotation file of the task's format."""

from __future__ import annotations

import pathlib
import sys

from jaxres import viz
from jaxres.platform import files
from jaxres.cli.commands import guards
from jaxres.train.restore import overrides_of
from jaxres.data.consistency import align_classes, check_same_points
from jaxres.data.images import load_image
from jaxres.data.readers import read_flat_folder
from jaxres.data.readers._common import IMAGE_EXTENSIONS
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError, UserError
from jaxres.objectives.base import record_name
from jaxres.export.predictor import load

BOX_COLUMNS = ("box_left", "box_top", "box_width", "box_height")


def predict(task, args) -> int:
    predictor = load(args.workdir, overrides_of(args))
    objective = predictor.objective
    dataset = _inputs(task, [pathlib.Path(p) for p in args.inputs], predictor)
    out, csv_path = pathlib.Path(args.out), pathlib.Path(args.out) / "predictions.csv"
    photos = _by_photo(dataset.records)
    overlays = [out / f"{pathlib.Path(record_name(dataset.records[rows[0]])).stem}_pred.png" for rows in photos]
    _check_targets(args, out, [csv_path, *overlays], [dataset.records[rows[0]].source for rows in photos])
    decoded = [predictor.photo(dataset.records[rows[0]].image) for rows in photos]  # once, however many faces
    by_record = {i: decoded[g] for g, rows in enumerate(photos) for i in rows}
    # a record's box is used only where it is the crop (the box task's records hold the answer)
    predictions, used = predictor.run([by_record[i] for i in range(len(dataset))],
                                      [r.box if predictor.needs_box else None for r in dataset.records])
    missing = sum(r.box is None for r in dataset.records)
    if predictor.needs_box and missing:  # once, after decoding: a refused photo is then the only line
        print(f"note: {missing} input(s) have no box; the whole photo is taken as the box (the CSV's box_* "
              "columns); give boxes through the task's annotation file", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    table = objective.table(dataset, predictions)
    if predictor.needs_box:  # the box each frame was cut around, given or the whole photo
        table[list(BOX_COLUMNS)] = used
    with files.atomic_path(csv_path) as tmp:  # a killed run never leaves a CSV that looks complete
        table.to_csv(tmp, index=False, float_format="%.3f")
    for rows, overlay in zip(photos, overlays):
        if len(rows) == 1:
            canvas = objective.picture(dataset.records[rows[0]], predictions[rows[0]])
        else:  # several records of one photo: each drawn over the whole photo
            canvas = load_image(dataset.records[rows[0]].image, "RGB")
            for i in rows:
                canvas = objective.picture(dataset.records[i], predictions[i], canvas=canvas)
        viz.save_png(canvas, overlay)
    print(f"wrote {csv_path} ({len(dataset)} rows) and {len(overlays)} overlay PNGs in {out}")
    return 0


def _by_photo(records: list[Record]) -> list[list[int]]:
    """Record indices grouped by the photo they are on, in first-seen order."""
    groups: dict = {}
    for i, record in enumerate(records):
        key = id(record.image) if not isinstance(record.image, (str, pathlib.PurePath)) else str(record.image)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _check_targets(args, out: pathlib.Path, targets: list[pathlib.Path], sources: list[str]) -> None:
    """Before any compute: not into the workdir, one overlay per input, no earlier file replaced
    without --force."""
    guards.outside_workdir(out, pathlib.Path(args.workdir))
    if out.exists() and not out.is_dir():
        raise UserError("--out must be a folder, but it is a file", where=str(out))
    guards.distinct_names([t.name for t in targets[1:]], sources, "the overlay")
    guards.new_outputs(targets, getattr(args, "force", False), "a prediction file")


def _inputs(task, paths: list[pathlib.Path], predictor) -> Dataset:
    records: list[Record] = []
    for path in paths:
        if not path.exists():
            raise DataError("input does not exist", where=str(path))
        if path.is_dir():
            records += read_flat_folder(path).records
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            records.append(Record(image=str(path.resolve()), source=str(path), meta={"id": path.stem}))
        else:
            dataset = task.read(path, "test", predictor.config) or task.read(path, "train", predictor.config)
            if dataset is None:
                raise DataError("not an image, a folder or an annotation file this task reads", where=str(path))
            # the model's point count, labels mapped by class name onto its classes: the truth drawn beside
            # each prediction means what the model's outputs mean
            check_same_points(dataset, predictor.facts.num_keypoints, "input")
            records += align_classes(dataset, predictor.facts.classes, "input").records
    if not records:
        raise DataError("no images found in the inputs", where=", ".join(map(str, paths)))
    return Dataset(records, classes=predictor.classes)
