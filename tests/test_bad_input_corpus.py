"""Bad inputs from a careless user or an attacker: each exits 2 with one short line naming the file and
row or key, before any training step, leaving every file the user wrote byte for byte as it was.

A case builds its inputs under `user/` (tests/bad_inputs.py) and returns (task, argv, names the
message must contain). Most fail before anything is compiled; the trained-workdir cases share one
tiny bbox training.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest

import bad_inputs as B
from cli_helpers import SYNTHETIC, TINY, run, trained, use_session_cache
from jaxres.data.consistency import align_classes
from jaxres.data.records import Dataset, Record
from jaxres.train.workdir import WorkdirLock

CASES = {}


def case(category: int):
    def register(fn):
        CASES[f"{category}-{fn.__name__}"] = fn
        return fn
    return register


def train(data, run_dir, *extra):
    return ["train", "--data", data, "--workdir", run_dir, *TINY, *extra]


# 1. one keypoint count per data set, in every split, naming the odd file ---------------------------

@case(1)
def odd_pts_in_train(user, run_dir):
    B.tree_300w(user)
    B.pts_file(user / "afw" / "a3.pts", 19, 3)
    return "face", train(user, run_dir), ["a3.pts", "19 keypoints"]


@case(1)
def odd_pts_in_test(user, run_dir):
    B.tree_300w(user)
    B.pts_file(user / "ibug" / "t1.pts", 19, 7)
    return "face", train(user, run_dir), ["t1.pts", "19 keypoints", "test"]


@case(1)
def xml_of_test_split_other_count(user, run_dir):
    B.dlib_xml(user / "labels_ibug_300W_train.xml", 10)
    B.dlib_xml(user / "labels_ibug_300W_test.xml", 3, k=19)
    return "face", train(user, run_dir), ["labels_ibug_300W_test.xml", "parts missing"]


@case(1)
def odd_coco_annotation(user, run_dir):
    doc = B.coco(user / "f.json")
    doc["annotations"][4]["keypoints"] = doc["annotations"][4]["keypoints"][: 3 * 19]
    return "face", train(B.write_json(user / "f.json", doc), run_dir), ["f.json", "annotations[4]", "19"]


# 2. every split validated before the first step ---------------------------------------------------

@case(2)
def box_far_outside_in_test(user, run_dir):
    B.box_folder(user)
    csv = user / "test.csv"
    csv.write_text(csv.read_text().replace("2,images/test_2.png,4,5", "2,images/test_2.png,5000,5"))
    return "bbox", train(user, run_dir), ["test.csv:4", "5000"]


@case(2)
def image_missing_in_test(user, run_dir):
    B.box_folder(user)
    (user / "images" / "test_1.png").unlink()
    return "bbox", train(user, run_dir), ["test.csv:3", "test_1.png"]


@case(2)
def val_image_not_an_image(user, run_dir):
    B.box_folder(user)
    (user / "images" / "val_0.png").write_bytes(b"not a png at all")
    return "bbox", train(user, run_dir), ["val.csv:2", "val_0.png"]


@case(2)
def image_corrupt_in_test(user, run_dir):
    B.class_folders(user, {"train": ["a", "b"], "val": ["a", "b"], "test": ["a", "b"]})
    (user / "test" / "b" / "test_b_1.png").write_bytes(b"\x89PNG\r\n garbage")
    return "sketch", train(user, run_dir, "--set", "data.eval_split=test"), ["test_b_1.png"]


# 3. labels by class name, never by each split's own numbering ------------------------------------

@case(3)
def val_class_unknown_to_training(user, run_dir):
    B.class_folders(user, {"train": ["a", "b"], "val": ["a", "b", "zebra"]})
    return "sketch", train(user, run_dir), ["zebra", "val"]


@case(3)
def class_in_test_unknown_to_training(user, run_dir):
    B.class_folders(user, {"train": ["a", "b"], "val": ["a", "b"], "test": ["b", "okapi"]})
    return "sketch", train(user, run_dir, "--set", "data.eval_split=test"), ["okapi", "test"]


@case(3)
def h5_test_with_a_class_training_lacks(user, run_dir):
    B.signs_h5(user / "train_signs.h5", "train", [0, 1, 2] * 4, [0, 1, 2])
    B.signs_h5(user / "test_signs.h5", "test", [7, 1, 2], [2, 1, 7])
    return "signs", train(user, run_dir), ["test_signs.h5", "'7'"]


# 4. every setting has a declared type and range -------------------------------------------------

def _config_file(user, text, name="cfg.py"):
    path = user / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _setting(task, *argv):
    def build(user, run_dir):
        return task, ["train", "--workdir", run_dir, *argv[:-1]], [argv[-1]]
    return build


for _name, _build in {
    "batch_size_zero": _setting("bbox", "--batch-size", "0", "train.batch_size"),
    "batch_size_negative": _setting("signs", "--batch-size", "-8", "train.batch_size"),
    "seed_negative": _setting("face", "--seed", "-1", "train.seed"),
    "epochs_zero": _setting("tshirt", "--epochs", "0", "train.epochs"),
    "workers_zero": _setting("sketch", "--set", "data.workers=0", "data.workers"),
    "image_size_zero": _setting("face", "--set", "objective.image_size=0", "objective.image_size"),
    "lr_infinite": _setting("bbox", "--set", "optim.lr=1e999", "optim.lr"),
    "process_id_out_of_range": _setting("bbox", "--num-processes", "2", "--process-id", "2", "--process-id"),
}.items():
    CASES[f"4-{_name}"] = _build


@case(4)
def config_is_json(user, run_dir):
    path = _config_file(user, json.dumps({"train": {"epochs": 1}}), "cfg.json")
    return "bbox", ["train", "--config", path, "--workdir", run_dir], ["cfg.json", "get_config"]


@case(4)
def config_returns_a_list(user, run_dir):
    path = _config_file(user, "def get_config():\n    return [1, 2]\n")
    return "bbox", ["train", "--config", path, "--workdir", run_dir], ["cfg.py", "list"]


@case(4)
def config_lacks_a_section(user, run_dir):
    path = _config_file(user, "def get_config():\n    return {'model': {'arch': 'resnet18'}}\n")
    return "bbox", ["train", "--config", path, "--workdir", run_dir], ["cfg.py", "objective.kind"]


# 5. readers check structure, types and sizes before reading -------------------------------------

def _coco_case(damage, *names):
    def build(user, run_dir):
        doc = B.coco(user / "f.json")
        damage(doc)
        return "face", train(B.write_json(user / "f.json", doc), run_dir), ["f.json", *names]
    return build


CASES["5-coco_image_id_is_a_list"] = _coco_case(lambda d: d["images"][2].update(id=[2]), "images[2]", "'id'")
CASES["5-coco_image_id_is_a_float"] = _coco_case(lambda d: d["annotations"][1].update(image_id=1.5),
                                                 "annotations[1]", "image_id")
CASES["5-coco_duplicate_image_id"] = _coco_case(lambda d: d["images"][3].update(id=1), "images[3]", "twice")
CASES["5-coco_no_labelled_point"] = _coco_case(
    lambda d: d["annotations"][5].update(keypoints=[0] * len(d["annotations"][5]["keypoints"])),
    "annotations[5]", "visibility 0")


@case(5)
def coco_nested_deep(user, run_dir):
    path = user / "f.json"
    path.parent.mkdir(parents=True)
    path.write_text("[" * 100_000 + "]" * 100_000)
    return "face", train(path, run_dir), ["f.json", "nested"]


@case(5)
def h5_declares_millions_of_images(user, run_dir):
    import h5py

    user.mkdir()
    with h5py.File(user / "big.h5", "w") as f:
        f.create_dataset("train_set_x", shape=(4_000_000, 64, 64, 3), dtype="u1")
        f.create_dataset("train_set_y", data=np.zeros(4, np.int64))
    return "signs", train(user / "big.h5", run_dir), ["big.h5[train_set_x]", "GiB"]


@case(5)
def h5_external_link_to_missing_file(user, run_dir):
    import h5py

    user.mkdir()
    with h5py.File(user / "link.h5", "w") as f:
        f["train_set_x"] = h5py.ExternalLink("elsewhere.h5", "/train_set_x")
        f.create_dataset("train_set_y", data=np.zeros(4, np.int64))
    return "signs", train(user / "link.h5", run_dir), ["link.h5[train_set_x]", "ExternalLink"]


# 7. files a user wrote (the workdir-free ones) ------------------------------------------------------

@case(7)
def workdir_is_empty_text(user, run_dir):
    B.png(user / "loss.png")
    os.chdir(user)  # `--workdir ''` would have trained into the current folder
    return "bbox", ["train", "--workdir", "", *TINY], ["--workdir"]


@case(7)
def workdir_is_a_user_folder(user, run_dir):
    B.png(user / "loss.png")
    (user / "notes.txt").write_text("mine")
    return "bbox", ["train", "--workdir", user, *TINY], [str(user), "--force"]


@case(6)
def workdir_is_a_file(user, run_dir):
    user.mkdir()
    (user / "run").write_text("a file")
    return "bbox", ["train", "--workdir", user / "run", *TINY], [str(user / "run"), "file"]


# 8. weights: float and finite, checked on load ------------------------------------------------------

def _weights_case(name, value, *names):
    def build(user, run_dir):
        from jaxres.weights import write_state_dict

        B.box_folder(user / "data")
        path = write_state_dict({"conv1.weight": value}, user / name)
        return "bbox", train(user / "data", run_dir, "--weights", path), [name, "conv1.weight", *names]
    return build


CASES["8-int8_safetensors"] = _weights_case("w.safetensors", np.ones((64, 3, 7, 7), np.int8), "int8")
CASES["8-nan_safetensors"] = _weights_case("w2.safetensors", np.full((64, 3, 7, 7), np.nan, np.float32), "NaN")
CASES["8-int32_npz"] = _weights_case("w.npz", np.ones((64, 3, 7, 7), np.int32), "int32")


@pytest.fixture
def refused_cleanly(monkeypatch, tmp_path_factory, tmp_path):
    """Run a case and check the four promises: status 2, one short line naming it, no step, files intact."""
    use_session_cache(monkeypatch, tmp_path_factory)
    monkeypatch.chdir(tmp_path)

    def check(task, argv, names, user, run_dir, before):
        result = run(task, argv)
        lines = [line for line in result.err.splitlines() if line.strip()]
        print(name_of(argv), "->", result.err.strip())  # shown with -rP: the corpus as a user sees it
        assert result.rc == 2, f"status {result.rc}: {result.err[-2000:]}"
        assert len(lines) == 1 and len(lines[0]) < 600 and "Traceback" not in result.err, result.err
        for name in names:
            assert str(name) in lines[0], f"{name!r} not named in: {lines[0]}"
        assert not re.search(r"epoch \d+/", result.out), f"a training step ran:\n{result.out}"
        assert not (run_dir / "checkpoints").exists()
        assert B.digests(user) == before, "a refused command changed the user's files"
        return result
    return check


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_before_any_step(name, tmp_path, refused_cleanly):
    user, run_dir = tmp_path / "user", tmp_path / "run"
    task, argv, names = CASES[name](user, run_dir)
    before = B.digests(user) if user.exists() else {}
    refused_cleanly(task, argv, names, user, run_dir, before)


# 6 and 7 on a trained workdir: damage, overwrites, the lock ----------------------------------------

def _damage_state(workdir):
    for step in (workdir / "checkpoints").iterdir():
        for path in (step / "state").rglob("*"):
            if path.is_file():
                path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])


def _delete_state(workdir):
    for step in (workdir / "checkpoints").iterdir():
        if (step / "state").is_dir():
            shutil.rmtree(step / "state")


def _empty_config(workdir):
    (workdir / "config.json").write_text("{}")


def _bad_range_config(workdir):
    config = json.loads((workdir / "config.json").read_text())
    config["objective"]["image_size"] = -3
    (workdir / "config.json").write_text(json.dumps(config))


WORKDIR_CASES = {
    # (damage to the workdir copy, command after "--workdir W", names in the message)
    "6-truncated_checkpoint": (_damage_state, ["eval"], ["checkpoints", "damaged"]),
    "6-deleted_state_folder": (_delete_state, ["export", "--format", "safetensors", "--out", "{user}/m.st"],
                               ["checkpoints", "damaged"]),
    "6-config_json_empty": (_empty_config, ["predict", "--out", "{user}/p", "{user}/in.png"],
                            ["config.json", "model.arch"]),
    "6-config_json_out_of_range": (_bad_range_config, ["eval"], ["config.json", "objective.image_size"]),
    "6-resume_from_truncated": (_damage_state, ["train", *TINY, *SYNTHETIC], ["damaged"]),
    "7-predict_over_predictions_csv": (None, ["predict", "--out", "{user}", "{user}/in.png"],
                                       ["predictions.csv", "--force"]),
    "7-predict_two_inputs_one_stem": (None, ["predict", "--out", "{user}/p", "{user}/in.png", "{user}/b/in.png"],
                                      ["in.png", "in_pred.png"]),
    "7-export_over_sidecar": (None, ["export", "--format", "stablehlo", "--out", "{user}/m.stablehlo"],
                              ["m.stablehlo.json", "--force"]),
    "7-export_over_workdir_config": (None, ["export", "--format", "safetensors", "--out", "{workdir}/config.json"],
                                     ["config.json", "workdir"]),
    "7-export_over_user_file": (None, ["export", "--format", "torchvision", "--out", "{user}/in.png"],
                                ["in.png", "--force"]),
}


@pytest.mark.parametrize("name", sorted(WORKDIR_CASES))
def test_refused_on_a_trained_workdir(name, tmp_path, tmp_path_factory, refused_cleanly):
    damage, command, names = WORKDIR_CASES[name]
    user, workdir = tmp_path / "user", tmp_path / "work"
    shutil.copytree(trained("bbox", tmp_path_factory).workdir, workdir)
    B.png(user / "in.png"), B.png(user / "b" / "in.png", 1)
    (user / "predictions.csv").write_text("mine\n")
    (user / "m.stablehlo.json").write_text("{}")
    if damage:
        damage(workdir)
    fill = lambda a: str(a).format(user=user, workdir=workdir)  # noqa: E731
    argv = [command[0], "--workdir", workdir, *map(fill, command[1:])]
    before, kept = B.digests(user), _without_lock(B.digests(workdir))
    refused_cleanly("bbox", argv, [fill(n) for n in names], user, tmp_path / "none", before)
    assert _without_lock(B.digests(workdir)) == kept


def _without_lock(digests: dict) -> dict:
    return {k: v for k, v in digests.items() if k != ".lock"}  # holds the pid of the last run


def test_a_train_refused_by_the_lock_writes_nothing(tmp_path, tmp_path_factory, refused_cleanly):
    workdir = tmp_path / "work"
    shutil.copytree(trained("bbox", tmp_path_factory).workdir, workdir)
    with WorkdirLock(workdir):
        before = B.digests(workdir)
        refused_cleanly("bbox", ["train", "--workdir", workdir, *TINY, "--set", "optim.lr=0.5"],
                        [str(workdir.resolve()), "another training"], workdir, tmp_path / "none", before)


def test_a_split_without_a_class_keeps_the_training_labels():
    classes = ("a", "b", "c")
    val = Dataset([Record("x.png", "v:1", label=0), Record("y.png", "v:2", label=1)], classes=("a", "c"))
    aligned = align_classes(val, classes, "val")
    assert [r.label for r in aligned.records] == [0, 2] and aligned.classes == classes
    reordered = Dataset([Record("z.png", "t:1", label=0)], classes=("5", "4", "3"))
    assert align_classes(reordered, ("3", "4", "5"), "test").records[0].label == 2


def name_of(argv) -> str:
    return " ".join(map(str, argv))[:120]


def test_a_full_disk_during_a_save_is_one_line_naming_the_folder(tmp_path):
    import errno

    from jaxres.train.checkpoint import _write_failed

    err = _write_failed(OSError(errno.ENOSPC, "No space left on device"), tmp_path / "checkpoints", 40)
    assert str(tmp_path / "checkpoints") in str(err) and "resume from step 40" in str(err)
    assert _write_failed(ValueError("a bug"), tmp_path, 40) is None  # not the user's to fix: status 1


def test_predict_on_an_annotation_file_with_another_point_count(tmp_path, tmp_path_factory, refused_cleanly):
    """A face model of 68 points asked to predict on a COCO file of 19: the file and annotation are named."""
    user = tmp_path / "user"
    path = B.write_json(user / "faces.json", B.coco(user / "faces.json", n=3, k=19))
    argv = ["predict", "--workdir", trained("face", tmp_path_factory).workdir, "--out", user / "p", path]
    refused_cleanly("face", argv, ["faces.json:annotations[0]", "19 keypoints", "68"], user, tmp_path / "none",
                    B.digests(user))
