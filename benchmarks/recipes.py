"""Recipes on real data: the new from-scratch default, the original recipe and tuned raw-pixel baselines.

Real small sets (`recipe_sets`), repeated K-fold: each fold becomes its task's data folder, the
training part as the training split and the held-out part as the test split. Classes (SIGNS photos,
digits) train the signs task on SIGNS-layout HDF5 files, boxes (the T-shirt photos) the bbox task on
the box project's CSV, points (the same photos' keypoints) the tshirt task on its `points_24.csv`,
faces (dlib's) the face task on dlib XML files, as `python -m tasks.<task> train --data <folder>`
would (`recipe_fit`: the same pieces without a checkpoint per epoch): the validation share comes out
of the training part, and the held-out fold is only read by the final evaluation. The baselines
(`classical`) tune their hyper-parameters by inner cross-validation on the training part only.
Results: one JSON line per (set, recipe, fold, seed) in `--out`, then the mean ± std table.

    python -m benchmarks.recipes --sets signs digits --recipes svm logreg default original \
        --folds 5 --repeats 2 --seeds 0 --out /tmp/recipes.jsonl
    python -m benchmarks.recipes --sets tshirt-boxes --recipes mean-box kernel-ridge default original \
        --folds 3 --repeats 1 --seeds 0
    python -m benchmarks.recipes --sets tshirt-points --recipes mean-shape kernel-ridge default \
        --folds 3 --repeats 1 --seeds 0

`--dev` scores on a third of each fold's training part instead (nested cross-validation), so a
recipe can be chosen without reading the held-out folds it is then measured on.
`--only-repeats` / `--only-folds` run a part of the same folds (another seed on the second repeat,
or a slower model on a few folds) without changing which photos each fold holds out.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile
import time

import numpy as np

from benchmarks import classical
from benchmarks.recipe_sets import (DIGITS_SIZE, ROOT, RealSet, development_split, fold_seed, folds, load_set,
                                    set_overrides, subsample)

# kind of set -> recipe -> config file: each task's own network (ResNet-50); `--set model.arch=resnet18`
# runs the lighter one. The tshirt task's default is its original recipe.
RECIPES = {
    "classes": {"default": "configs/signs.py", "original": "configs/signs_original.py"},
    "boxes": {"default": "configs/bbox.py", "original": "configs/bbox_original.py"},
    "points": {"default": "configs/tshirt.py"},
    "faces": {"default": "configs/face.py"},
}
TASKS = {"classes": "signs", "boxes": "bbox", "points": "tshirt", "faces": "face"}
METRICS = {"classes": "top1", "boxes": "mean_iou", "points": "mean_error_px", "faces": "nme_io"}
BASELINES = {"classes": classical.CLASSES, "boxes": classical.BOXES, "points": classical.POINTS,
             "faces": classical.POINTS}


def write_h5(path: pathlib.Path, split: str, images: np.ndarray, labels: np.ndarray, classes: int) -> None:
    """A SIGNS-layout HDF5 file, as the signs task reads it."""
    import h5py

    with h5py.File(path, "w") as f:
        f[f"{split}_set_x"] = images
        f[f"{split}_set_y"] = labels
        f["list_classes"] = np.arange(classes, dtype=np.int64)


def write_box_csv(path: pathlib.Path, names: list[str], boxes: np.ndarray) -> None:
    """The box project's CSV (index, image, x, y, height, width), as the bbox task reads it."""
    import csv

    with open(path, "w", newline="") as f:
        rows = csv.writer(f)
        for i, (name, (x0, y0, x1, y1)) in enumerate(zip(names, boxes)):
            rows.writerow([i, name, f"{x0:g}", f"{y0:g}", f"{y1 - y0:g}", f"{x1 - x0:g}"])


def write_points_csv(path: pathlib.Path, names: list[str], points: np.ndarray) -> None:
    """The T-shirt project's `filename,points` CSV, points as a stringified list of x, y values."""
    import csv

    with open(path, "w", newline="") as f:
        rows = csv.writer(f)
        rows.writerow(["filename", "points"])
        for name, shape in zip(names, points):
            rows.writerow([name, str([f"{v:g}" for v in np.asarray(shape).reshape(-1)])])


def write_dlib_xml(path: pathlib.Path, files: list[str], boxes: np.ndarray, points: np.ndarray) -> None:
    """dlib's landmark XML (as iBUG 300-W ships it): one <image> per file, a <box> per face in it."""
    from xml.etree import ElementTree

    root = ElementTree.Element("dataset")
    images = ElementTree.SubElement(root, "images")
    by_file: dict[str, ElementTree.Element] = {}
    for file, (x0, y0, x1, y1), shape in zip(files, boxes, points):
        if file not in by_file:
            by_file[file] = ElementTree.SubElement(images, "image", file=file)
        box = ElementTree.SubElement(by_file[file], "box", top=f"{y0:g}", left=f"{x0:g}",
                                     width=f"{x1 - x0:g}", height=f"{y1 - y0:g}")
        for i, (x, y) in enumerate(shape):
            ElementTree.SubElement(box, "part", name=f"{i:02d}", x=f"{x:g}", y=f"{y:g}")
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def write_fold(folder: pathlib.Path, data: RealSet, train: np.ndarray, test: np.ndarray) -> list[str]:
    """The fold as its task's data folder (training part, held-out part as the test split); returns
    the data keys the task needs to read it."""
    if data.kind == "classes":
        classes = int(data.labels.max()) + 1
        write_h5(folder / "train_signs.h5", "train", data.images[train], data.labels[train], classes)
        write_h5(folder / "test_signs.h5", "test", data.images[test], data.labels[test], classes)
        return []
    if data.kind == "faces":  # the photos stay where they are: absolute paths in the XML files
        from tasks.face import TEST_XML, TRAIN_XML

        for xml, part in ((TRAIN_XML[0], train), (TEST_XML[0], test)):
            write_dlib_xml(folder / xml, [data.files[i] for i in part], data.face_boxes[part], data.points[part])
        return ["data.allow_absolute_paths=True"]
    from tasks.tshirt import SPLIT_CSVS

    images = os.path.commonpath(data.files)
    for split, part in (("train", train), ("test", test)):
        names = [os.path.relpath(data.files[i], images) for i in part]
        if data.kind == "boxes":  # the bbox task reads <split>.csv
            write_box_csv(folder / f"{split}.csv", names, data.boxes[part])
        else:
            write_points_csv(folder / {"train": "points_24.csv", **SPLIT_CSVS}[split], names, data.points[part])
    return [f"data.images={images!r}"]


def network(recipe: str, data: RealSet, seed: int, train, test, extra: list[str],
            digits_size: int = DIGITS_SIZE) -> dict:
    """Train the recipe on the fold (`recipe_fit`, the training command's pieces); held-out metrics."""
    import importlib

    from benchmarks import recipe_fit

    with tempfile.TemporaryDirectory(prefix="recipes-") as tmp:
        folder = pathlib.Path(tmp)
        data_keys = write_fold(folder, data, train, test)
        keys = [*data_keys, *set_overrides(data.name, len(train), digits_size), *extra, f"train.seed={seed}"]
        config = recipe_fit.resolved_config(str(ROOT / RECIPES[data.kind][recipe]), keys, str(folder))
        task = importlib.import_module(f"tasks.{TASKS[data.kind]}").TASK
        result = recipe_fit.train_and_test(task, config)
        if (result["split"], result["n"]) != ("test", len(test)):  # the task must score the held-out part
            raise RuntimeError(f"{data.name}: scored {result['n']} images of {result['split']!r}, not the "
                               f"{len(test)} held out")
    metric = METRICS[data.kind]
    return {metric: float(result[metric]), "epochs": config["train"]["epochs"], "arch": config["model"]["arch"],
            "batch_size": config["train"]["batch_size"], "zero_init_residual": config["model"]["zero_init_residual"],
            "image_size": config["objective"]["image_size"]}


def baseline(kind: str, data: RealSet, train, test) -> dict:
    """A tuned raw-pixel baseline on the fold."""
    if data.kind == "classes":
        return classical.classify(kind, data.images[train], data.labels[train], data.images[test], data.labels[test])
    if data.kind == "boxes":
        return classical.regress_boxes(kind, data.images[train], data.boxes[train], data.images[test], data.boxes[test])
    if data.kind == "faces":  # each face inside the task's crop of it
        return classical.regress_points(kind, data.images[train], data.shapes[train], data.images[test],
                                        data.shapes[test], metric="nme_io")
    return classical.regress_points(kind, data.images[train], data.points[train], data.images[test],
                                    data.points[test])


def set_label(args, name: str) -> str:
    """The set's name in the rows: its size when digits are not at 32 px, its cut, `:dev`."""
    shown = name if name != "digits" or args.digits_size == DIGITS_SIZE else f"digits{args.digits_size}px"
    return shown + (f"@{args.train_size}" if args.train_size else "") + (":dev" if args.dev else "")


def run(args) -> list[dict]:
    rows = []
    out = open(args.out, "a") if args.out else None
    for set_name in args.sets:
        data = load_set(set_name, args.digits_size)
        networks, baselines = RECIPES[data.kind], BASELINES[data.kind]
        recipes = [r for r in args.recipes if r in networks or r in baselines]
        for repeat, fold, train, test in folds(data.labels, args.folds, args.repeats, args.only_repeats,
                                               args.only_folds, n=len(data.images), groups=data.photos):
            seed_of_fold = fold_seed(repeat, fold)
            if data.labels is not None:
                train = subsample(train, data.labels, args.train_size, seed_of_fold)
            if args.dev:
                train, test = development_split(train, data.labels, seed_of_fold, data.photos)
            for recipe in recipes:
                for seed in (args.seeds if recipe in networks else [0]):
                    start = time.time()
                    if recipe in networks:
                        row = network(recipe, data, seed, train, test, args.set, args.digits_size)
                    else:
                        row = baseline(recipe, data, train, test)
                    named = recipe if args.label is None or recipe not in networks else f"{recipe}:{args.label}"
                    row.update(set=set_label(args, set_name), recipe=named,
                               overrides=args.set if recipe in networks else [],
                               repeat=repeat, fold=fold, seed=seed,
                               n_train=len(train), n_test=len(test), seconds=round(time.time() - start, 1))
                    rows.append(row)
                    print(json.dumps(row, default=str), flush=True)
                    if out:
                        out.write(json.dumps(row, default=str) + "\n")
                        out.flush()
    return rows


def score(row: dict) -> float:
    """A row's held-out score: top-1 in % for classes, mean IoU for boxes, mean point error (px) for
    points, NME (inter-ocular) for faces."""
    if "top1" in row:
        return 100 * row["top1"]
    return next(row[key] for key in ("mean_iou", "mean_error_px", "nme_io") if key in row)


def table(rows: list[dict], repeats: int | None = None) -> str:
    """Markdown: mean ± std of the held-out score (`score`) over folds × seeds,
    per set, recipe and network (the first `repeats` repeats of the folds only, when given, so that
    every recipe is scored on the same folds). Rows written before the network was recorded have none."""
    rows = [r for r in rows if repeats is None or r["repeat"] < repeats]
    lines = ["| set | recipe | network | runs | top-1 %, mean IoU, mean error px or NME (mean ± std) | s / run |",
             "|---|---|---|---|---|---|"]
    keys = sorted({(r["set"], r["recipe"], r.get("arch") or "") for r in rows})
    for set_name, recipe, arch in keys:
        picked = [r for r in rows if (r["set"], r["recipe"], r.get("arch") or "") == (set_name, recipe, arch)]
        scores = np.array([score(r) for r in picked])
        shown = "{:.3f} ± {:.3f}" if "mean_iou" in picked[0] or "nme_io" in picked[0] else "{:.1f} ± {:.1f}"
        secs = np.mean([r["seconds"] for r in picked])
        lines.append(f"| {set_name} | {recipe} | {arch or '—'} | {len(picked)} | "
                     f"{shown.format(scores.mean(), scores.std())} | {secs:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["signs", "digits"])
    parser.add_argument("--recipes", nargs="+", default=["svm", "logreg", "default", "original"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only-repeats", type=int, nargs="+",
                        help="run only these repeats of the folds (0-based; the folds are those of --repeats)")
    parser.add_argument("--only-folds", type=int, nargs="+", help="run only these folds of each repeat (0-based)")
    parser.add_argument("--set", action="append", default=[], help="extra key=value for the network recipes")
    parser.add_argument("--train-size", type=int,
                        help="train on this many images of each fold's training part (stratified); "
                             "the held-out fold stays whole")
    parser.add_argument("--digits-size", type=int, default=DIGITS_SIZE,
                        help="upsample the 8×8 digits to this size and train at it (the signs task's own is 64)")
    parser.add_argument("--dev", action="store_true",
                        help="development runs: train on two thirds of each fold's training part and score on "
                             "the other third; the fold's held-out part is not read")
    parser.add_argument("--label", help="name the network rows `recipe:label` (a recipe with --set changes)")
    parser.add_argument("--out", help="append one JSON line per run here")
    parser.add_argument("--table", nargs="+", help="only print the table of these --out files")
    args = parser.parse_args(argv)
    known = list(dict.fromkeys(name for kind in RECIPES for name in (*RECIPES[kind], *BASELINES[kind])))
    unknown = sorted(set(args.recipes) - set(known))
    if unknown:  # each set runs the names that apply to it; a name no set knows is a typo, not a skip
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if args.table:
        rows = [json.loads(line) for path in args.table for line in open(path) if line.strip()]
    else:
        rows = run(args)
    print(table(rows, args.repeats if args.table else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
