"""The real sets the recipes are measured on, and how each is cut into folds.

A set is classes (SIGNS photos, scikit-learn's digits: stratified folds), boxes (the T-shirt
photos, each box the extent of its 12 annotated keypoints: plain folds), points (the same photos'
12 keypoints: plain folds) or faces (dlib's 43 annotated faces, 68 points each: folds by photo).
Every fold, development split and cut is seeded, so every recipe and baseline sees the same images.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"  # ../shared/data, as the tests read it
SIGNS_REAL = SHARED_DATA / "signs" / "test_signs.h5"
TSHIRTS = SHARED_DATA / "tshirt_points_24"
FACES = SHARED_DATA / "dlib_faces"
# set -> overrides for its image size. Digits: a mirrored digit is another glyph, so no flips; their
# 8×8 scans are upsampled to DIGITS_SIZE (`--digits-size`: the task's own 64 costs 4× the CPU time).
# T-shirt boxes: half the photos' 224 px, a quarter of the CPU time of the task's own size.
# T-shirt points: from random weights too, since ImageNet weights cannot be loaded here.
SET_OVERRIDES = {"signs": ["objective.image_size=64"], "digits": ["objective.augment.flip_prob=0.0"],
                 "tshirt-boxes": ["objective.image_size=112"],
                 "tshirt-points": ["objective.image_size=112", "model.weights='none'"],
                 # Faces: their boxes are 37–109 px wide in these photos, so a 64 px crop keeps most of
                 # their detail at a twelfth of 224's CPU time; the recipe's batch of 64 is more than
                 # the 27–31 training faces of a fold (batch 8: a development split trains on 15–19).
                 "faces": ["objective.image_size=64", "model.weights='none'", "train.batch_size=8"]}
FACE_SIZE = 32  # the baselines' crops
DIGITS_SIZE = 32
BOX_SIZE = 112
# Digits whole (1,198 training images a fold): 20 epochs for both recipes, since the default's 100
# would take ~17 CPU minutes a fold here; cut with --train-size, each recipe keeps its own epochs.
LARGE_TRAIN, LARGE_OVERRIDES = 300, ["train.epochs=20"]


@dataclasses.dataclass(frozen=True)
class RealSet:
    """images: uint8 (N, H, W, C), the baselines' raw pixels (at the networks' size; a face's crop).
    labels: (N,) class indices, or None. boxes: (N, 4) corners, or points: (N, K, 2), in pixels of
    `files`, each image's path, which the box and keypoint tasks read themselves."""

    name: str
    images: np.ndarray
    labels: np.ndarray | None = None
    boxes: np.ndarray | None = None
    points: np.ndarray | None = None
    files: tuple[str, ...] = ()
    # faces: each sample's face box (N, 4) in pixels of its file, and (N,) its photo (folds keep a
    # photo's faces together); the baselines' `images` and `shapes` are then the task's crop of it
    face_boxes: np.ndarray | None = None
    photos: np.ndarray | None = None
    shapes: np.ndarray | None = None

    @property
    def kind(self) -> str:
        if self.labels is not None:
            return "classes"
        if self.boxes is not None:
            return "boxes"
        return "faces" if self.face_boxes is not None else "points"


def set_overrides(set_name: str, n_train: int, digits_size: int = DIGITS_SIZE) -> list[str]:
    """The set's overrides for a training part of `n_train` images."""
    if set_name != "digits":
        return SET_OVERRIDES[set_name]
    return [*SET_OVERRIDES[set_name], f"objective.image_size={digits_size}",
            *(LARGE_OVERRIDES if n_train > LARGE_TRAIN else [])]


def load_set(name: str, digits_size: int = DIGITS_SIZE) -> RealSet:
    """A real image set by name: signs, digits, tshirt-boxes, tshirt-points or faces."""
    from PIL import Image

    if name == "signs":
        import h5py

        with h5py.File(SIGNS_REAL, "r") as f:
            return RealSet(name, f["test_set_x"][:], labels=f["test_set_y"][:].reshape(-1).astype(np.int64))
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        small = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
        big = np.stack([np.asarray(Image.fromarray(im).resize((digits_size,) * 2, Image.BILINEAR)) for im in small])
        return RealSet(name, np.repeat(big[..., None], 3, axis=-1), labels=digits.target.astype(np.int64))
    if name == "tshirt-boxes":
        return tshirt_boxes()
    if name == "tshirt-points":
        return tshirt_points()
    if name == "faces":
        return faces()
    raise SystemExit(f"unknown set {name!r}; known: signs, digits, tshirt-boxes, tshirt-points, faces")


def tshirt_points(size: int = BOX_SIZE, name: str = "tshirt-points") -> RealSet:
    """The 74 real T-shirt photos (224×224) and their 12 annotated keypoints, read by the library's
    own keypoint reader and image loader; `images` at `size` for the baselines."""
    from PIL import Image

    from jaxres.data import readers
    from jaxres.data.images import load_image

    records = readers.read_keypoint_csv(TSHIRTS / "points_24.csv").records
    images = np.stack([np.asarray(Image.fromarray(load_image(r.image, "RGB")).resize((size, size), Image.BILINEAR))
                       for r in records])
    points = np.stack([np.asarray(r.keypoints, np.float32) for r in records])
    return RealSet(name, images, points=points, files=tuple(r.image for r in records))


def tshirt_boxes(size: int = BOX_SIZE) -> RealSet:
    """The T-shirt photos, each with the box spanning its 12 keypoints (shoulders, sleeves, hem: the
    garment's extent)."""
    shirts = tshirt_points(size, "tshirt-boxes")
    boxes = np.concatenate([shirts.points.min(axis=1), shirts.points.max(axis=1)], axis=1)
    return dataclasses.replace(shirts, boxes=boxes, points=None)


def faces(size: int = FACE_SIZE, margin: float = 0.25) -> RealSet:
    """dlib's 43 annotated faces (both of its XML files; 9 photos), read by the library's dlib reader.
    The baselines see what the face task sees: the square crop around each face box with the task's
    margin, gray, at `size`, and the 68 points in that crop's pixels."""
    from jaxres.data import affine, readers
    from jaxres.data.images import load_image
    from tasks.face import TEST_XML, TRAIN_XML

    records = [r for xml in (TRAIN_XML[1], TEST_XML[1]) for r in readers.read_dlib_xml(FACES / xml).records]
    photos = {file: load_image(file, "L") for file in dict.fromkeys(r.image for r in records)}  # each once
    crops, shapes = [], []
    for r in records:
        to_crop = affine.crop_to_box(r.box, size, margin)
        crops.append(affine.warp_image(photos[r.image], to_crop, size))
        shapes.append(affine.apply_points(np.asarray(r.keypoints, np.float64), to_crop))
    files = tuple(r.image for r in records)
    return RealSet("faces", np.stack(crops).reshape(len(crops), size, size, 1),
                   points=np.stack([r.keypoints for r in records]),
                   files=files, face_boxes=np.stack([r.box for r in records]),
                   photos=np.unique(files, return_inverse=True)[1], shapes=np.stack(shapes))


def folds(labels: np.ndarray | None, n_folds: int, repeats: int, only_repeats=None, only_folds=None, n=None,
          groups: np.ndarray | None = None):
    """(repeat, fold, train indices, test indices), the same for every recipe: stratified by `labels`,
    by `groups` (each group held out whole: a photo's faces), or plain K-fold over `n` samples; only
    the repeats in `only_repeats` and folds in `only_folds` when given (each fold unchanged)."""
    import itertools

    from sklearn.model_selection import GroupKFold, RepeatedKFold, RepeatedStratifiedKFold

    if groups is not None:
        splits = itertools.chain.from_iterable(
            GroupKFold(n_folds, shuffle=True, random_state=r).split(np.zeros(len(groups)), groups=groups)
            for r in range(repeats))
    elif labels is None:
        splits = RepeatedKFold(n_splits=n_folds, n_repeats=repeats, random_state=0).split(np.zeros(n))
    else:
        splits = RepeatedStratifiedKFold(n_splits=n_folds, n_repeats=repeats, random_state=0).split(
            np.zeros(len(labels)), labels)
    for i, (train, test) in enumerate(splits):
        repeat, fold = divmod(i, n_folds)
        if (only_repeats is None or repeat in only_repeats) and (only_folds is None or fold in only_folds):
            yield repeat, fold, train, test


def fold_seed(repeat: int, fold: int) -> int:
    """The seed of a fold's cut and development split: the same for every recipe and run."""
    return 1000 * repeat + fold


def subsample(train: np.ndarray, labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """`size` of the training indices `train`, stratified and seeded (all of them when `size` is None):
    a large real set cut to the few hundred images the small-data recipes are for."""
    if size is None or size >= len(train):
        return train
    from sklearn.model_selection import StratifiedShuffleSplit

    picked, _ = next(StratifiedShuffleSplit(1, train_size=size, random_state=seed).split(train, labels[train]))
    return np.sort(train[picked])


def development_split(train: np.ndarray, labels: np.ndarray | None, seed: int,
                      groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(two thirds, one third) of the training indices `train`, seeded, stratified when there are
    labels and whole groups when there are groups: a held-out part taken from the training part only,
    so that choosing a recipe never reads the fold's own held-out images (nested cross-validation's
    inner split)."""
    from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit

    if groups is not None:
        kept, held = next(GroupShuffleSplit(1, test_size=1 / 3, random_state=seed).split(train, groups=groups[train]))
    elif labels is None:
        kept, held = next(ShuffleSplit(1, test_size=1 / 3, random_state=seed).split(train))
    else:
        kept, held = next(StratifiedShuffleSplit(1, test_size=1 / 3, random_state=seed).split(train, labels[train]))
    return np.sort(train[kept]), np.sort(train[held])
