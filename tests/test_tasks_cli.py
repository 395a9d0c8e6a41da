"""The five tasks end to end through the shared command line (issue 5, "Done when").

Per task: one tiny synthetic training (ResNet-18, 32 px, one epoch, batch 8), then train's JSON and
workdir, `eval`, `predict` (original-image pixels), and the three exports checked against the model.
Then the real sample data in `../shared/data` through the same command line, and resuming.

Every run is in-process (`jaxres.cli.entry.main`), so runs of one task share compiled functions; all use
one image size and one batch size to keep the number of distinct compiled shapes small.
"""

from __future__ import annotations

import csv
import re
import shutil
import types

import h5py
import jax
import numpy as np
import pytest
from PIL import Image

import jaxres
from cli_helpers import IMAGE_SIZE, TASK_NAMES, TINY, run, task, trained, use_session_cache
from jaxres import models
from jaxres.export import artifacts as export
from jaxres.train import workdir as workdir_files
from jaxres.train.restore import best as trained_workdir
from jaxres.cli.commands.splits import synthetic_root

METRICS = {
    "face": {"nme_io", "nme_ip", "auc@0.08", "fr@0.08"},
    "tshirt": {"mean_error_px", "pck@0.05", "pck@0.1", "pck@0.2"},
    "bbox": {"mean_iou", "iou@0.5", "iou@0.75", "mae_px"},
    "signs": {"top1", "macro_f1", "weighted_f1"},  # and per_class: {class: precision, recall, f1, support}
    "sketch": {"top1", "top5", "macro_f1"},
}
CLASSIFIERS = ("signs", "sketch")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", autouse=True)
def session_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        yield use_session_cache(mp, tmp_path_factory)


@pytest.fixture(scope="module", params=TASK_NAMES)
def trained_task(request, tmp_path_factory):
    name = request.param
    return name, trained(name, tmp_path_factory)


def assert_png(path):
    assert path.is_file(), f"{path} missing"
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    with Image.open(path) as image:
        image.verify()


def metric_keys(result: dict) -> set[str]:
    return {k for k in result if k not in ("split", "n", "count", "baseline", "per_class", "step")}


# ---------------------------------------------------------------------------------------- train


def _facts(workdir) -> workdir_files.DataFacts:
    return workdir_files.load_facts(workdir, workdir_files.load_config(workdir))


def test_train_prints_metrics_and_baseline_as_json(trained_task):
    name, result = trained_task
    final = result.last_json()
    assert METRICS[name] <= set(final), f"{name}: {sorted(final)}"
    assert all(isinstance(final[k], (float, int)) for k in METRICS[name])
    assert isinstance(final["baseline"], dict) and METRICS[name] <= set(final["baseline"])
    assert final["n"] == 16  # the synthetic test (or validation) split
    if name in CLASSIFIERS:  # per-class scores, named by the workdir's classes
        classes = _facts(result.workdir).classes
        per_class = set(final["per_class"])
        assert per_class and per_class <= set(map(str, classes)), per_class


def test_train_leaves_a_complete_workdir(trained_task):
    name, result = trained_task
    workdir = result.workdir
    assert (workdir / "config.json").is_file()
    assert (workdir / "metrics.jsonl").is_file() and (workdir / "metrics.jsonl").read_text().strip()
    assert any((workdir / "checkpoints").iterdir())
    assert_png(workdir / "pictures" / "predictions.png")
    if name in CLASSIFIERS:
        assert_png(workdir / "pictures" / "confusion.png")


# ----------------------------------------------------------------------------------------- eval


def test_eval_prints_the_same_metrics(trained_task):
    name, result = trained_task
    evaluated = run(name, ["eval", "--workdir", result.workdir])
    assert evaluated.rc == 0, evaluated.err
    got, want = evaluated.last_json(), result.last_json()
    assert METRICS[name] <= metric_keys(got)
    assert metric_keys(got) == metric_keys(want)
    # The same best checkpoint on the same split: the same numbers.
    for key in METRICS[name]:
        assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), key
    # a table for people before the JSON line: each metric beside the baseline, 4 significant digits
    first = sorted(METRICS[name])[0]
    row = next(line.split() for line in evaluated.out.splitlines() if line.split()[:1] == [first])
    assert row[1:] == [f"{got[first]:.4g}", f"{got['baseline'][first]:.4g}"]


# -------------------------------------------------------------------------------------- predict


def _prediction_inputs(name: str, folder):
    """Two images of the synthetic set (and one of them at twice the size), as files."""
    root = synthetic_root(task(name))
    folder.mkdir()
    if name == "signs":
        with h5py.File(root / "test_signs.h5") as f:
            pixels = f["test_set_x"][:2]
        sources = [Image.fromarray(p) for p in pixels]
    else:
        pattern = {"face": "images/*", "tshirt": "t-shirt_resized_train/*", "bbox": "images/*",
                   "sketch": "predict_images/*"}[name]
        sources = [Image.open(p).convert("RGB") for p in sorted(root.glob(pattern))[:2]]
    paths = []
    for i, image in enumerate(sources):
        paths.append(folder / f"in{i}.png")
        image.save(paths[-1])
    big = sources[0].resize((sources[0].width * 2, sources[0].height * 2), Image.BILINEAR)
    paths.append(folder / "in0_x2.png")
    big.save(paths[-1])
    return paths, [s.size for s in sources] + [big.size]


def _coordinates(row: dict, name: str) -> np.ndarray:
    if name == "bbox":
        x, y, h, w = (float(row[k]) for k in ("x", "y", "height", "width"))
        return np.array([[x, y], [x + w, y + h]])
    xs = sorted(k for k in row if k[0] == "x" and k[1:].isdigit())
    return np.array([[float(row[k]), float(row["y" + k[1:]])] for k in xs])


def test_predict_writes_a_csv_in_original_pixels_and_overlays(trained_task, tmp_path):
    name, result = trained_task
    inputs, sizes = _prediction_inputs(name, tmp_path / "in")
    out = tmp_path / "out"
    predicted = run(name, ["predict", "--workdir", result.workdir, "--out", out, *inputs])
    assert predicted.rc == 0, predicted.err
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(inputs)
    for path in inputs:
        assert_png(out / f"{path.stem}_pred.png")
    if name in CLASSIFIERS:
        classes = _facts(result.workdir).classes
        if name == "sketch":
            assert list(rows[0]) == ["Id", "Category"]
            assert [r["Id"] for r in rows] == [p.stem for p in inputs]
            assert all(0 <= int(r["Category"]) < len(classes) for r in rows)
        else:
            assert [r["image"] for r in rows] == [p.stem for p in inputs]
            assert all(r["class_1"] in map(str, classes) and 0 <= float(r["prob_1"]) <= 1 for r in rows)
        return
    points = [_coordinates(r, name) for r in rows]
    expected = {"face": 68, "tshirt": 12, "bbox": 2}[name]
    for xy, (width, height) in zip(points, sizes):
        assert xy.shape == (expected, 2)
        # In the original image's pixels: within half an image of its frame, not in the 32 px input's.
        assert np.all(xy > -0.5 * np.array([width, height])) and np.all(xy < 1.5 * np.array([width, height]))
    # The same picture at twice the size: the same points at twice the coordinates.
    scale = np.array(sizes[2], float) / np.array(sizes[0], float)
    assert np.allclose(points[2], points[0] * scale, atol=0.05 * sizes[2][0]), (points[0][:3], points[2][:3])


def test_sketch_predict_on_the_flat_test_folder_writes_id_category(tmp_path, tmp_path_factory):
    result = trained("sketch", tmp_path_factory)
    folder = synthetic_root(task("sketch")) / "predict_images"
    out = tmp_path / "out"
    predicted = run("sketch", ["predict", "--workdir", result.workdir, "--out", out, folder])
    assert predicted.rc == 0, predicted.err
    lines = (out / "predictions.csv").read_text().splitlines()
    assert lines[0] == "Id,Category"
    images = sorted(p.stem for p in folder.iterdir())
    assert sorted(line.split(",")[0] for line in lines[1:]) == images
    assert len(list(out.glob("*_pred.png"))) == len(images)


# --------------------------------------------------------------------------------------- export


def _uint8_batch(model, seed=0):
    shape = (2, IMAGE_SIZE, IMAGE_SIZE, model.in_channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _python_outputs(model, variables, images):
    return np.asarray(model.apply(variables, models.normalize(images, model.in_channels), train=False))


def _relative_error(got, want) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def test_export_stablehlo_matches_the_python_model(trained_task, tmp_path):
    """The exported photo-in model answers as `jaxres.load` does (tests/test_export_end_to_end.py
    runs both exports on real photos in processes without jaxres)."""
    pytest.importorskip("flatbuffers", reason="jax.export serialization needs flatbuffers")
    name, result = trained_task
    path = tmp_path / "model.hlo"
    exported = run(name, ["export", "--workdir", result.workdir, "--format", "stablehlo", "--out", path])
    assert exported.rc == 0, exported.err
    predictor = jaxres.load(result.workdir)
    photo = np.random.default_rng(0).integers(0, 256, (45, 61, predictor.model.in_channels), dtype=np.uint8)
    box = [[5.0, 6.0, 30.0, 28.0]] if predictor.takes_box else []
    got = export.load_stablehlo(path)(photo, *box)
    want = predictor.predict(photo, *box).value
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-3 * max(1.0, float(np.abs(want).max())))


def test_export_torchvision_loads_strictly_into_torchvision_resnet(trained_task, tmp_path):
    torch = pytest.importorskip("torch")
    from torch_reference import torchvision_resnet

    name, result = trained_task
    path = tmp_path / "x.pth"
    exported = run(name, ["export", "--workdir", result.workdir, "--format", "torchvision", "--out", path])
    assert exported.rc == 0, exported.err
    built, variables, _ = trained_workdir(result.workdir)
    model = built.model
    arch = export.arch_name(model)
    build = lambda num_classes: torchvision_resnet(arch, num_classes)  # noqa: E731
    fake = types.SimpleNamespace(models=types.SimpleNamespace(**{arch: build}))
    namespace = {"torch": torch, "torchvision": fake}
    exec(export.torchvision_recipe(model), namespace)  # the documented changes (gray conv1, MLP head)
    net = namespace["model"].eval()
    net.load_state_dict(torch.load(path, weights_only=True), strict=True)
    images = _uint8_batch(model, seed=1)
    x = np.array(models.normalize(images, model.in_channels))
    with torch.no_grad():
        got = net(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    want = _python_outputs(model, variables, images).reshape(got.shape)
    assert _relative_error(got, want) <= 1e-4  # torch vs XLA convolutions


def test_export_safetensors_round_trips(trained_task, tmp_path):
    name, result = trained_task
    path = tmp_path / "variables.safetensors"
    exported = run(name, ["export", "--workdir", result.workdir, "--format", "safetensors", "--out", path])
    assert exported.rc == 0, exported.err
    back = export.load_safetensors_variables(path)
    variables = trained_workdir(result.workdir)[1]
    assert jax.tree.structure(back) == jax.tree.structure(jax.tree.map(np.asarray, variables))
    for want, got in zip(jax.tree.leaves(variables), jax.tree.leaves(back)):
        np.testing.assert_array_equal(got, np.asarray(want))


# ------------------------------------------------------------------------------ real sample data

REAL = ["--weights", "none", *TINY]


@pytest.fixture(scope="module")
def dlib_face(shared_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("dlib_face")
    result = run("face", ["train", "--data", shared_data / "dlib_faces", "--workdir", workdir, *REAL])
    result.workdir = workdir
    return result


def test_face_trains_on_dlib_xml_and_reports_on_its_test_xml(dlib_face):
    assert dlib_face.rc == 0, dlib_face.err
    final = dlib_face.last_json()
    assert final["split"] == "test" and final["n"] == 25  # every face of testing_with_face_landmarks.xml
    assert METRICS["face"] <= set(final)
    assert _facts(dlib_face.workdir).model["num_keypoints"] == 68


def test_face_evaluates_the_300w_coco_json(dlib_face, shared_data):
    assert dlib_face.rc == 0, dlib_face.err
    json_file = shared_data / "mmpose_300w" / "test_300w.json"
    # A file has no test split: `--split train` is all of it (the default would be the held-out face).
    evaluated = run("face", ["eval", "--workdir", dlib_face.workdir, "--data", json_file, "--split", "train"])
    assert evaluated.rc == 0, evaluated.err
    result = evaluated.last_json()
    assert result["split"] == "train" and result["n"] == 2
    assert METRICS["face"] <= set(result) and all(np.isfinite(result[k]) for k in METRICS["face"])


def test_face_trains_on_the_300w_coco_json(shared_data, tmp_path):
    json_file = shared_data / "mmpose_300w" / "test_300w.json"
    args = ["train", "--data", json_file, "--workdir", tmp_path, *REAL]
    args[args.index("--batch-size") + 1] = "1"  # two faces: one trains, one validates
    result = run("face", args)
    assert result.rc == 0, result.err
    assert "on 1 records (1 validation)" in result.out
    final = result.last_json()
    assert final["split"] == "val" and final["n"] == 1 and METRICS["face"] <= set(final)


def test_train_resumes_a_finished_workdir(dlib_face, shared_data, tmp_path):
    assert dlib_face.rc == 0, dlib_face.err
    workdir = tmp_path / "resumed"
    shutil.copytree(dlib_face.workdir, workdir)
    args = ["train", "--data", shared_data / "dlib_faces", "--workdir", workdir, *REAL]
    args[args.index("--epochs") + 1] = "2"
    resumed = run("face", args)
    assert resumed.rc == 0, resumed.err
    steps = int(re.search(r"best checkpoint: epoch 1, step (\d+)", dlib_face.out)[1])  # one epoch's steps
    assert f"resuming from step {steps}" in resumed.out
    assert "epoch 2/2" in resumed.out and "epoch 1/2" not in resumed.out
    assert METRICS["face"] <= set(resumed.last_json())


def test_tshirt_trains_on_points_24(shared_data, tmp_path):
    result = run("tshirt", ["train", "--data", shared_data / "tshirt_points_24", "--workdir", tmp_path, *REAL])
    assert result.rc == 0, result.err
    final = result.last_json()
    assert final["split"] == "val" and final["n"] == 11  # 15 % of 74, held out by seed
    assert METRICS["tshirt"] <= set(final)
    assert _facts(tmp_path).num_keypoints == 12


def test_signs_trains_on_one_h5_file(shared_data, tmp_path):
    result = run("signs", ["train", "--data", shared_data / "signs" / "test_signs.h5", "--workdir", tmp_path, *REAL])
    assert result.rc == 0, result.err
    assert "on 108 records (12 validation)" in result.out
    final = result.last_json()
    assert final["split"] == "val" and final["n"] == 12
    assert {"top1", "macro_f1", "weighted_f1"} <= set(final)
    assert_png(tmp_path / "pictures" / "confusion.png")


def test_sketch_takes_its_classes_from_class2category(shared_data, tmp_path, tmp_path_factory):
    from tasks.synthetic import sketches

    class_csv = shared_data / "sketch_classes" / "class2category.csv"
    with open(class_csv, newline="") as f:
        wnids = [row["Class"] for row in sorted(csv.DictReader(f), key=lambda r: int(r["Category"]))]
    source = sketches.make(tmp_path / "synthetic", n_train=12, n_val=4, n_test=0, size=48, n_classes=4)
    chosen = {shape: wnids[i] for shape, i in zip(sorted(sketches.SHAPES[:4]), (499, 3, 250, 120))}
    data = tmp_path / "data"
    for split in ("train", "val"):
        for shape, wnid in chosen.items():
            shutil.copytree(source / split / shape, data / split / wnid)
    workdir = tmp_path / "run"
    class_list = ["--set", f"data.class_list={class_csv}"]
    result = run("sketch", ["train", "--data", data, "--workdir", workdir, *REAL, *class_list])
    assert result.rc == 0, result.err
    final = result.last_json()
    assert METRICS["sketch"] <= set(final) and final["n"] == 4
    assert _facts(workdir).classes == wnids  # all 500, in the CSV's order
    assert _facts(workdir).model["num_outputs"] == 500
    assert trained_workdir(workdir)[0].model.num_outputs == 500  # the model itself, not only its facts
    # the per-class table: every class it scored, and support only where the test split has images
    assert {name for name, row in final["per_class"].items() if row["support"]} == set(chosen.values())
