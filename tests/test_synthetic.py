"""Embedded synthetic sets: deterministic, written once, and readable by the real readers."""

import csv

import jax
import numpy as np
import pytest

from jaxres import objectives
from jaxres.data import flip_maps, frame_cache, framed
from jaxres.data.images import image_size, load_image
from jaxres.data.readers.box_csv import read_box_csv
from jaxres.data.readers.folders import read_class_folders, read_flat_folder
from jaxres.data.readers.ibug_xml import read_dlib_xml
from jaxres.data.readers.keypoint_csv import read_keypoint_csv, read_keypoint_folder
from jaxres.data.readers.signs_h5 import read_signs_h5
from jaxres.data.synthetic import store
from jaxres.errors import DataError
from tasks.synthetic import boxes, faces, signs, sketches, tshirts

TINY = {
    faces: dict(n_train=6, n_val=3, size=96),
    tshirts: dict(n_train=6, n_val=3, size=224),
    boxes: dict(n_train=6, n_val=3, size=64),
    signs: dict(n_train=12, n_val=6, size=64),
    sketches: dict(n_train=12, n_val=6, size=48),
}


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("module", list(TINY), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_same_seed_same_bytes_other_seed_other_bytes(module, tmp_path):
    a = _files(module.make(tmp_path / "a", seed=1, **TINY[module]))
    b = _files(module.make(tmp_path / "b", seed=1, **TINY[module]))
    c = _files(module.make(tmp_path / "c", seed=2, **TINY[module]))
    assert a == b
    assert len(a) == len(c)  # same layout (names may differ: sketch files sit in their class folder)
    assert set(a.values()) - set(c.values()) - {a[k] for k in a if k.name == store.MANIFEST}


def test_make_skips_finished_sets_and_replaces_outdated_ones(tmp_path):
    root = boxes.make(tmp_path / "set", seed=0, **TINY[boxes])
    stamp = (root / "train.csv").stat().st_mtime_ns
    assert boxes.make(tmp_path / "set", seed=0, **TINY[boxes]) == root
    assert (root / "train.csv").stat().st_mtime_ns == stamp
    boxes.make(tmp_path / "set", seed=0, **{**TINY[boxes], "n_train": 4})
    assert len(read_box_csv(root / boxes.TRAIN_CSV)) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # no temporary or old folders left


def test_a_failed_build_leaves_nothing_and_foreign_folders_are_refused(tmp_path):
    def build(folder):
        (folder / "half.txt").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.build_once(tmp_path / "set", "test", 1, {}, build)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError):
        boxes.make(tmp_path / "mine", **TINY[boxes])
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def _inside(points, w, h):
    p = np.asarray(points)
    return (p[..., 0] >= 0).all() and (p[..., 0] <= w).all() and (p[..., 1] >= 0).all() and (p[..., 1] <= h).all()


def _assert_varied(dataset, target):
    values = np.stack([getattr(r, target) for r in dataset.records])
    assert values.std(0).mean() > 1.0  # targets move from image to image
    images = [load_image(r.image).astype(np.int16) for r in dataset.records[:3]]
    assert all(np.abs(x - y).mean() > 5 for x, y in zip(images, images[1:]))


def test_faces_read_back_as_dlib_xml(tmp_path):
    root = faces.make(tmp_path / "faces", seed=0, **TINY[faces])
    train, test = read_dlib_xml(root / faces.TRAIN_XML), read_dlib_xml(root / faces.TEST_XML)
    assert (len(train), len(test)) == (6, 3)
    for r in train.records + test.records:
        assert r.keypoints.shape == (68, 2) and _inside(r.keypoints, 96, 96)
        assert image_size(r.image) == (96, 96)
        x0, y0, x1, y1 = r.box  # the detector-like box still holds most of the face
        inside = (r.keypoints[:, 0] >= x0) & (r.keypoints[:, 0] <= x1) & (r.keypoints[:, 1] >= y0)
        assert inside.mean() > 0.8
        mirrored = (r.keypoints * np.array([-1, 1]))[flip_maps.IBUG_68]
        assert mirrored[36, 0] < mirrored[45, 0] and r.keypoints[36, 0] < r.keypoints[45, 0]
    _assert_varied(train, "keypoints")


def test_tshirts_read_back_as_points_24(tmp_path):
    root = tshirts.make(tmp_path / "shirts", seed=0, **TINY[tshirts])
    train = read_keypoint_folder(root)
    val = read_keypoint_csv(root / tshirts.VAL_CSV)
    assert (len(train), len(val)) == (6, 3)
    for r in train.records + val.records:
        assert r.keypoints.shape == (12, 2) and _inside(r.keypoints, 223, 223)
        assert image_size(r.image) == (224, 224)
        left, right = r.keypoints[[0, 6, 1, 7, 11, 5]], r.keypoints[[9, 3, 8, 2, 4, 10]]
        assert (left[:, 0] < right[:, 0]).all()  # the pairs in FLIP_PAIRS are left/right partners
    assert flip_maps.flip_map_from_pairs(tshirts.FLIP_PAIRS, 12)[0] == 9
    _assert_varied(train, "keypoints")


def test_boxes_read_back_and_the_object_stands_out(tmp_path):
    root = boxes.make(tmp_path / "boxes", seed=0, **TINY[boxes])
    train, val = read_box_csv(root / boxes.TRAIN_CSV), read_box_csv(root / boxes.VAL_CSV)
    assert (len(train), len(val)) == (6, 3)
    for r in train.records + val.records:
        x0, y0, x1, y1 = r.box.astype(int)
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
        img = load_image(r.image).astype(np.float32)
        inner = img[(y0 + y1) // 2 - 2:(y0 + y1) // 2 + 2, (x0 + x1) // 2 - 2:(x0 + x1) // 2 + 2].mean((0, 1))
        mask = np.ones(img.shape[:2], bool)
        mask[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] = False
        outer = img[mask].mean(0)
        assert np.linalg.norm(inner - outer) > 60  # a contrasting colour, so the box is learnable
    _assert_varied(train, "box")


def test_signs_read_back_as_signs_h5(tmp_path):
    root = signs.make(tmp_path / "signs", seed=0, **TINY[signs])
    train = read_signs_h5(root / signs.TRAIN_H5)
    test = read_signs_h5(root / signs.TEST_H5)
    assert (len(train), len(test)) == (12, 6)
    assert sorted(r.label for r in train.records) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert train.records[0].image.shape == (64, 64, 3) and train.records[0].image.dtype == np.uint8
    images = np.stack([r.image for r in train.records]).astype(np.int16)
    assert np.abs(images[1:] - images[:-1]).mean() > 5


def test_sketches_read_back_as_class_folders(tmp_path):
    root = sketches.make(tmp_path / "sketches", seed=0, **TINY[sketches])
    table = root / "class2category.csv"
    train = read_class_folders(root, "train", class_list=table)
    val, test = read_class_folders(root, "val"), read_class_folders(root, "test")
    assert (len(train), len(val), len(test)) == (12, 6, 6)
    assert train.classes == val.classes == tuple(sorted(sketches.SHAPES[:6]))
    assert sorted(r.label for r in train.records) == sorted(list(range(6)) * 2)
    flat = read_flat_folder(root / "predict_images")
    assert len(flat) == 6
    with open(root / "predict_solution.csv") as f:
        solution = {row["Id"]: int(row["Category"]) for row in csv.DictReader(f)}
    by_pixels = {load_image(r.image).tobytes(): r.label for r in test.records}
    assert all(by_pixels[load_image(r.image).tobytes()] == solution[r.meta["id"]] for r in flat.records)
    ink = np.array([(load_image(r.image, "L") < 128).mean() for r in train.records])
    assert ((ink > 0.01) & (ink < 0.3)).all()  # black lines on white


def test_synthetic_faces_flow_through_the_frame_cache_and_the_step(tmp_path):
    """The sets flow through the frames and the step (no crash, right shapes, keypoints round-trip)."""
    rec = read_dlib_xml(faces.make(tmp_path / "f", seed=0, **TINY[faces]) / faces.TRAIN_XML).records[0]
    objective = objectives.create({"kind": "keypoints", "image_size": 48, "channels": 1, "crop": "box", "loss": "l1",
                                   "flip_map": "ibug68", "augment": {"rotate": 15, "scale": 0.1, "translate": 0.05,
                                                                     "flip_prob": 1.0, "jitter": 0.2}})
    frames = frame_cache.in_memory([rec], objective.frame_spec(), objective.frame_of)
    for train in (True, False):
        batch = framed.build(objective, [rec], frames, train=train).batch(np.arange(1))
        out = jax.device_get(framed.transform(objective, train)(batch, jax.random.key(0)))
        assert out["image"].shape == (1, 48, 48, 1)
    back = objective.decode(out["keypoints"], {"matrix": out["matrix"]})[0]
    assert np.abs(back - rec.keypoints).max() < 1e-3


def test_tshirt_flip_pairs_fit_the_real_annotations(shared_data):
    """In the real set, each pair's picture-left point is left of its partner, before and after a flip."""
    shirts = read_keypoint_folder(shared_data / "tshirt_points_24")
    perm = flip_maps.flip_map_from_pairs(tshirts.FLIP_PAIRS, 12)
    left, right = [0, 6, 1, 7, 11, 5], [9, 3, 8, 2, 4, 10]
    for r in shirts.records:
        for pts in (r.keypoints, (r.keypoints * np.array([-1, 1]))[perm]):
            assert (pts[left, 0] < pts[right, 0]).mean() >= 5 / 6
