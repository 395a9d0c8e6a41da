"""Recipes on real data: the new from-scratch default, the original recipe and a tuned kernel SVM.

Real small sets, repeated stratified K-fold: each fold's training part is written as a SIGNS-layout
`train_signs.h5`, the held-out part as `test_signs.h5`, and the signs task trains on that folder as
`python -m tasks.signs train --data <folder>` would (`recipe_fit`: the same pieces without a
checkpoint per epoch): its validation share comes out of the training part, and the held-out fold
is only read by the final evaluation. The classical baselines (RBF SVM, logistic
regression on raw pixels) tune their hyper-parameters by inner cross-validation on the training part
only. Results: one JSON line per (set, recipe, fold, seed) in `--out`, then the mean ± std table.

    python -m benchmarks.recipes --sets signs digits --recipes svm logreg default original \
        --folds 5 --repeats 2 --seeds 0 --out /tmp/recipes.jsonl

`--dev` scores on a third of each fold's training part instead (nested cross-validation), so a
recipe can be chosen without reading the held-out folds it is then measured on.
`--only-repeats` / `--only-folds` run a part of the same folds (another seed on the second repeat,
or a slower model on a few folds) without changing which photos each fold holds out.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIGNS_REAL = pathlib.Path("/work/shared/data/signs/test_signs.h5")
# recipe -> (config file, overrides shared by every set): the task's own network (ResNet-50);
# `--set model.arch=resnet18` runs the lighter one.
RECIPES = {
    "default": ("configs/signs.py", []),
    "original": ("configs/signs_original.py", []),
}
# set -> overrides for its image size. Digits: a mirrored digit is another glyph, so no flips; their
# 8×8 scans are upsampled to DIGITS_SIZE (`--digits-size`: the task's own 64 costs 4× the CPU time).
SET_OVERRIDES = {"signs": ["objective.image_size=64"], "digits": ["objective.augment.flip_prob=0.0"]}
DIGITS_SIZE = 32
# Digits whole (1,198 training images a fold): 20 epochs for both recipes, since the default's 100
# would take ~17 CPU minutes a fold here; cut with --train-size, each recipe keeps its own epochs.
LARGE_TRAIN, LARGE_OVERRIDES = 300, ["train.epochs=20"]


def set_overrides(set_name: str, n_train: int, digits_size: int = DIGITS_SIZE) -> list[str]:
    """The set's overrides for a training part of `n_train` images."""
    if set_name != "digits":
        return SET_OVERRIDES[set_name]
    return [*SET_OVERRIDES[set_name], f"objective.image_size={digits_size}",
            *(LARGE_OVERRIDES if n_train > LARGE_TRAIN else [])]


def load_set(name: str, digits_size: int = DIGITS_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, H, W, 3), labels (N,)) of a real image set."""
    if name == "signs":
        import h5py

        with h5py.File(SIGNS_REAL, "r") as f:
            return f["test_set_x"][:], f["test_set_y"][:].reshape(-1).astype(np.int64)
    if name == "digits":
        from PIL import Image
        from sklearn.datasets import load_digits

        digits = load_digits()
        small = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
        big = np.stack([np.asarray(Image.fromarray(im).resize((digits_size,) * 2, Image.BILINEAR)) for im in small])
        return np.repeat(big[..., None], 3, axis=-1), digits.target.astype(np.int64)
    raise SystemExit(f"unknown set {name!r}; known: signs, digits")


def folds(labels: np.ndarray, n_folds: int, repeats: int, only_repeats=None, only_folds=None):
    """(repeat, fold, train indices, test indices), stratified, the same for every recipe; only the
    repeats in `only_repeats` and folds in `only_folds` when given (each fold unchanged)."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    splitter = RepeatedStratifiedKFold(n_splits=n_folds, n_repeats=repeats, random_state=0)
    for i, (train, test) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        repeat, fold = divmod(i, n_folds)
        if (only_repeats is None or repeat in only_repeats) and (only_folds is None or fold in only_folds):
            yield repeat, fold, train, test


def subsample(train: np.ndarray, labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """`size` of the training indices `train`, stratified and seeded (all of them when `size` is None):
    a large real set cut to the few hundred images the small-data recipes are for."""
    if size is None or size >= len(train):
        return train
    from sklearn.model_selection import StratifiedShuffleSplit

    picked, _ = next(StratifiedShuffleSplit(1, train_size=size, random_state=seed).split(train, labels[train]))
    return np.sort(train[picked])


def development_split(train: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(two thirds, one third) of the training indices `train`, stratified and seeded: a held-out part
    taken from the training part only, so that choosing a recipe never reads the fold's own held-out
    images (nested cross-validation's inner split)."""
    from sklearn.model_selection import StratifiedShuffleSplit

    kept, held = next(StratifiedShuffleSplit(1, test_size=1 / 3, random_state=seed).split(train, labels[train]))
    return np.sort(train[kept]), np.sort(train[held])


def write_h5(path: pathlib.Path, split: str, images: np.ndarray, labels: np.ndarray, classes: int) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f[f"{split}_set_x"] = images
        f[f"{split}_set_y"] = labels
        f["list_classes"] = np.arange(classes, dtype=np.int64)


def classical(kind: str, x_train, y_train, x_test, y_test) -> dict:
    """A raw-pixel baseline whose hyper-parameters are chosen by 3-fold CV on the training part only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0  # noqa: E731
    if kind == "svm":
        model = make_pipeline(StandardScaler(), SVC(kernel="rbf"))
        d = flat(x_train).shape[1]
        grid = {"svc__C": [0.1, 1, 10, 100, 1000], "svc__gamma": [g / d for g in (0.003, 0.01, 0.03, 0.1, 0.3, 1, 3)]}
    else:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        grid = {"logisticregression__C": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10]}
    search = GridSearchCV(model, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0), n_jobs=1)
    search.fit(flat(x_train), y_train)
    return {"top1": float((search.predict(flat(x_test)) == y_test).mean()), "chosen": search.best_params_}


def network(recipe: str, set_name: str, seed: int, images, labels, train, test, extra: list[str],
            digits_size: int = DIGITS_SIZE) -> dict:
    """Train the recipe on the fold (`recipe_fit`, the training command's pieces); held-out metrics."""
    from benchmarks import recipe_fit
    from tasks.signs import TASK

    config_file, overrides = RECIPES[recipe]
    classes = int(labels.max()) + 1
    with tempfile.TemporaryDirectory(prefix="recipes-") as tmp:
        data = pathlib.Path(tmp)
        write_h5(data / "train_signs.h5", "train", images[train], labels[train], classes)
        write_h5(data / "test_signs.h5", "test", images[test], labels[test], classes)
        keys = [*overrides, *set_overrides(set_name, len(train), digits_size), *extra, f"train.seed={seed}"]
        config = recipe_fit.resolved_config(str(ROOT / config_file), keys, str(data))
        result = recipe_fit.train_and_test(TASK, config)
    return {"top1": float(result["top1"]), "epochs": config["train"]["epochs"], "arch": config["model"]["arch"],
            "batch_size": config["train"]["batch_size"], "zero_init_residual": config["model"]["zero_init_residual"],
            "image_size": config["objective"]["image_size"]}


def run(args) -> list[dict]:
    rows = []
    out = open(args.out, "a") if args.out else None
    for set_name in args.sets:
        images, labels = load_set(set_name, args.digits_size)
        shown = set_name if set_name != "digits" or args.digits_size == DIGITS_SIZE else f"digits{args.digits_size}px"
        for repeat, fold, train, test in folds(labels, args.folds, args.repeats, args.only_repeats, args.only_folds):
            train = subsample(train, labels, args.train_size, 1000 * repeat + fold)
            if args.dev:
                train, test = development_split(train, labels, 1000 * repeat + fold)
            for recipe in args.recipes:
                for seed in (args.seeds if recipe in RECIPES else [0]):
                    start = time.time()
                    if recipe in RECIPES:
                        row = network(recipe, set_name, seed, images, labels, train, test, args.set, args.digits_size)
                    else:
                        row = classical(recipe, images[train], labels[train], images[test], labels[test])
                    named = recipe if args.label is None or recipe not in RECIPES else f"{recipe}:{args.label}"
                    row.update(set=shown + (f"@{args.train_size}" if args.train_size else "") + (":dev" if args.dev else ""),
                               recipe=named, overrides=args.set if recipe in RECIPES else [],
                               repeat=repeat, fold=fold, seed=seed,
                               n_train=len(train), n_test=len(test), seconds=round(time.time() - start, 1))
                    rows.append(row)
                    print(json.dumps(row, default=str), flush=True)
                    if out:
                        out.write(json.dumps(row, default=str) + "\n")
                        out.flush()
    return rows


def table(rows: list[dict], repeats: int | None = None) -> str:
    """Markdown: mean ± std of held-out top-1 (%) over folds × seeds, per set, recipe and network (the
    first `repeats` repeats of the folds only, when given, so that every recipe is scored on the same
    folds). Rows written before the network was recorded have none."""
    rows = [r for r in rows if repeats is None or r["repeat"] < repeats]
    lines = ["| set | recipe | network | runs | top-1 % (mean ± std) | s / run |", "|---|---|---|---|---|---|"]
    keys = sorted({(r["set"], r["recipe"], r.get("arch") or "") for r in rows})
    for set_name, recipe, arch in keys:
        picked = [r for r in rows if (r["set"], r["recipe"], r.get("arch") or "") == (set_name, recipe, arch)]
        acc = 100 * np.array([r["top1"] for r in picked])
        secs = np.mean([r["seconds"] for r in picked])
        lines.append(f"| {set_name} | {recipe} | {arch or '—'} | {len(picked)} | {acc.mean():.1f} ± {acc.std():.1f} "
                     f"| {secs:.0f} |")
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
    if args.table:
        rows = [json.loads(line) for path in args.table for line in open(path) if line.strip()]
    else:
        rows = run(args)
    print(table(rows, args.repeats if args.table else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
