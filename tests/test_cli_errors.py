"""The bad-input corpus (issue 7, part 3): every case through the real command line.

Each case must end with exit status 2 and exactly one non-empty line on stderr that names the file
and row (or line, or the config key / flag), no traceback anywhere, nothing left behind that looks
complete (no predictions.csv, no exported file, no config.json or checkpoint from a refused
training), and it must fail before training starts: in seconds, without a compile of the train step
(a truncated JPEG or PNG is found from its last bytes, so it too fails in the validation pass).

Most cases call `jaxres.cli.entry.main` in this process; a handful run `python -m tasks.<task>` to check
the real exit status of the module.
"""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import jax
import numpy as np
import pytest
from PIL import Image

from cli_helpers import SYNTHETIC, TINY, Run, run, run_module, trained, use_session_cache
from jaxres import models, weights

# A refused run reads and checks its input, nothing more. Generous, as CI's two cores are shared;
# a run that reaches training compiles a ResNet step and takes far longer on that machine.
SECONDS = 20.0
# A tiny synthetic run around the broken piece, so only the case's flaw can stop it.
SMALL = [*TINY, *SYNTHETIC, "--weights", "none"]


@pytest.fixture(scope="module", autouse=True)
def session_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        yield use_session_cache(mp, tmp_path_factory)


def refused(result: Run, *names: str, limit: float = SECONDS, before_training: bool = True) -> str:
    """Status 2, one readable stderr line naming `names`, no traceback, before any training."""
    assert result.rc == 2, f"exit {result.rc}\nstderr: {result.err}\nstdout: {result.out[-1500:]}"
    assert "Traceback" not in result.err + result.out, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.err}"
    line = lines[0]
    for name in names:
        assert str(name) in line, f"{name!r} not named in: {line}"
    if before_training:
        assert "training resnet" not in result.out, "failed only once training began"
    assert "epoch 1/" not in result.out, "failed only after a training step"
    assert result.seconds < limit, f"took {result.seconds:.1f}s: the check should come before any compile"
    return line


def nothing_trained(workdir: Path) -> None:
    """A refused `train` leaves no workdir a later run would take as started or finished."""
    assert not (workdir / "config.json").exists(), "config.json of a run that never started"
    assert not (workdir / "checkpoints").exists() or not any((workdir / "checkpoints").iterdir())


def train_refused(task: str, tmp_path: Path, args: list, *names) -> str:
    workdir = tmp_path / "wd"
    line = refused(run(task, ["train", "--workdir", workdir, *SMALL, *map(str, args)]), *names)
    nothing_trained(workdir)
    return line


# --------------------------------------------------------------------------------------- files


def jpeg(path: Path, size=(48, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "JPEG")
    return path


def truncated_jpeg(path: Path) -> Path:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[:-300])
    return path


def points_csv(folder: Path, rows: list[str], images=10) -> Path:
    """A T-shirt `points_24.csv` (12 points a row) with `images` good JPEGs, 1.jpg ..., beside it."""
    for i in range(1, images + 1):
        jpeg(folder / f"{i}.jpg")
    csv = folder / "points.csv"
    csv.write_text("filename,points\n" + "\n".join(rows) + "\n")
    return csv


def row(i: int, values=None) -> str:
    """The project's own row format: a stringified list of quoted numbers."""
    values = [str(5 + (3 * k + i) % 30) for k in range(24)] if values is None else values
    return f'{i}.jpg,"{[str(v) for v in values]}"'


def good_rows(n=10) -> list[str]:
    return [row(i) for i in range(1, n + 1)]


def dlib_xml(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("<?xml version='1.0'?>\n<dataset><images>\n" + body + "\n</images></dataset>\n")
    return path


def face_box(parts=68) -> str:
    inner = "".join(f"<part name='{k:02d}' x='{10 + k % 20}' y='{10 + k // 4}'/>" for k in range(parts))
    return f"<box top='5' left='5' width='30' height='30'>{inner}</box>"


def h5(path: Path, **datasets) -> Path:
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
    return path


@pytest.fixture(scope="module")
def face_workdir(tmp_path_factory) -> Path:
    """A trained face workdir (shared with test_tasks_cli when both run in one session)."""
    return trained("face", tmp_path_factory).workdir


# ------------------------------------------------------------------------------- command line


def test_unknown_set_key(tmp_path):
    train_refused("face", tmp_path, ["--set", "model.archh=resnet34"], "model.archh")


def test_set_value_of_the_wrong_type(tmp_path):
    train_refused("face", tmp_path, ["--set", "train.epochs=abc"], "train.epochs", "abc")


def test_set_without_a_value(tmp_path):
    train_refused("face", tmp_path, ["--set", "train.epochs"], "--set", "train.epochs")


def test_unknown_objective_kind(tmp_path):
    train_refused("face", tmp_path, ["--set", "objective.kind=segmentation"], "objective.kind", "segmentation")


def test_flag_that_is_not_a_number(tmp_path):
    train_refused("face", tmp_path, ["--epochs", "three"], "--epochs", "three")


def test_unknown_option_of_a_subcommand(tmp_path):
    refused(run("face", ["eval", "--workdir", tmp_path, "--bogus"]), "--bogus")


def test_unknown_option_of_train(tmp_path):
    train_refused("face", tmp_path, ["--lr", "0.1"], "--lr")


def test_wrong_export_format(tmp_path):
    out = tmp_path / "model.tflite"
    refused(run("face", ["export", "--workdir", tmp_path, "--format", "tflite", "--out", out]), "--format", "tflite")
    assert not out.exists()


def test_config_file_that_does_not_exist(tmp_path):
    train_refused("face", tmp_path, ["--config", tmp_path / "nope.py"], tmp_path / "nope.py")


def test_config_file_without_get_config(tmp_path):
    config = tmp_path / "config.py"
    config.write_text("CONFIG = {}\n")
    train_refused("face", tmp_path, ["--config", config], config, "get_config")


def test_config_file_that_does_not_import(tmp_path):
    config = tmp_path / "broken.py"
    config.write_text("def get_config(:\n")
    train_refused("face", tmp_path, ["--config", config], config)


def test_data_path_that_does_not_exist(tmp_path):
    train_refused("face", tmp_path, ["--data", tmp_path / "no_such_data"], tmp_path / "no_such_data")


# --------------------------------------------------------------------------- not a workdir


@pytest.mark.parametrize("command", ["eval", "predict", "export"])
def test_commands_on_a_folder_that_is_not_a_workdir(tmp_path, command):
    folder = tmp_path / "not_a_workdir"
    folder.mkdir()
    out = tmp_path / "out"
    extra = {"eval": [], "predict": ["--out", out, tmp_path], "export": ["--format", "safetensors", "--out", out]}
    line = refused(run("face", [command, "--workdir", folder, *extra[command]]), folder, "config.json")
    assert "train" in line  # says what to do
    assert not out.exists()


def test_eval_of_a_workdir_without_a_checkpoint(tmp_path):
    workdir = tmp_path / "started"
    workdir.mkdir()
    (workdir / "config.json").write_text('{"model": {"arch": "resnet18", "resolved": {"num_outputs": 4}}, '
                                         '"objective": {"kind": "box", "image_size": 32}, "checkpoint": {}}')
    refused(run("bbox", ["eval", "--workdir", workdir]), workdir, "checkpoint")


def test_eval_of_a_split_the_data_lacks(face_workdir):
    refused(run("face", ["eval", "--workdir", face_workdir, "--split", "holdout"]), "holdout")


# ---------------------------------------------------------------------------- keypoint CSV


def test_keypoint_csv_wrong_coordinate_count(tmp_path):
    rows = good_rows()
    rows[2] = row(3, [1, 2, 3, 4])
    csv = points_csv(tmp_path / "data", rows)
    train_refused("tshirt", tmp_path, ["--data", csv], f"{csv}:4", "coordinates")


def test_keypoint_csv_non_numeric_value(tmp_path):
    rows = good_rows()
    rows[1] = row(2, [1] * 10 + ["x7"] + [1] * 13)
    csv = points_csv(tmp_path / "data", rows)
    train_refused("tshirt", tmp_path, ["--data", csv], f"{csv}:3", "x7")


def test_keypoint_csv_nan(tmp_path):
    rows = good_rows()
    rows[5] = row(6, [2] * 23 + ["nan"])
    csv = points_csv(tmp_path / "data", rows)
    train_refused("tshirt", tmp_path, ["--data", csv], f"{csv}:7")


def test_keypoint_count_that_the_flip_map_does_not_fit(tmp_path):
    csv = points_csv(tmp_path / "data", [row(i, [i, 5, 20, 9]) for i in range(1, 11)])
    train_refused("tshirt", tmp_path, ["--data", csv], "objective.flip_map", "2 keypoints")


def test_keypoint_csv_without_a_header(tmp_path):
    csv = points_csv(tmp_path / "data", good_rows())
    csv.write_text("\n".join(good_rows()) + "\n")
    train_refused("tshirt", tmp_path, ["--data", csv], f"{csv}:1", "header")


def test_missing_image_file(tmp_path):
    csv = points_csv(tmp_path / "data", good_rows(), images=10)
    (tmp_path / "data" / "4.jpg").unlink()
    line = train_refused("tshirt", tmp_path, ["--data", csv], f"{csv}:5", "4.jpg", "image file not found")
    assert line.count("4.jpg") == 1, line


def test_image_that_is_not_an_image(tmp_path):
    csv = points_csv(tmp_path / "data", good_rows())
    (tmp_path / "data" / "8.jpg").write_text("filename,points\n")
    train_refused("tshirt", tmp_path, ["--data", csv], f"{csv}:9", "8.jpg")


def test_truncated_jpeg(tmp_path):
    csv = points_csv(tmp_path / "data", good_rows())
    truncated_jpeg(tmp_path / "data" / "2.jpg")
    workdir = tmp_path / "wd"
    result = run("tshirt", ["train", "--workdir", workdir, *SMALL, "--data", csv])
    refused(result, f"{csv}:3", "2.jpg", "truncated")
    nothing_trained(workdir)


def test_keypoints_far_outside_their_image(tmp_path):
    rows = good_rows()
    rows[0] = row(1, [4800] + [3] * 23)  # 100 widths to the right: wrong units
    csv = points_csv(tmp_path / "data", rows)
    train_refused("tshirt", tmp_path, ["--data", csv], f"{csv}:2", "outside")


# --------------------------------------------------------------------------------- box CSV


def test_box_csv_negative_width(tmp_path):
    folder = tmp_path / "data"
    for i in range(10):
        jpeg(folder / f"{i}.jpg")
    rows = [f"{i},{i}.jpg,2,3,10,12" for i in range(10)]
    rows[6] = "6,6.jpg,2,3,10,-12"
    csv = folder / "boxes.csv"
    csv.write_text("index,path,x,y,height,width\n" + "\n".join(rows) + "\n")
    train_refused("bbox", tmp_path, ["--data", csv], f"{csv}:8", "positive")


# ---------------------------------------------------------------------------- dlib XML, COCO


def test_dlib_xml_with_a_missing_part(tmp_path):
    jpeg(tmp_path / "data" / "a.jpg", size=(64, 64))
    body = f"<image file='a.jpg'>\n{face_box()}\n{face_box(parts=67)}\n</image>"
    xml = dlib_xml(tmp_path / "data" / "faces.xml", body)
    train_refused("face", tmp_path, ["--data", xml], f"{xml}:5", "67")


def test_billion_laughs_xml(tmp_path):
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    xml = tmp_path / "bomb.xml"
    xml.write_text("<?xml version='1.0'?>\n<!DOCTYPE lolz [\n" + "\n".join(entities)
                   + "\n]>\n<dataset><images>&lol9;</images></dataset>\n")
    train_refused("face", tmp_path, ["--data", xml], xml, "DOCTYPE")


def test_xml_path_escaping_the_data_root(tmp_path):
    jpeg(tmp_path / "outside.jpg", size=(64, 64))
    xml = dlib_xml(tmp_path / "data" / "faces.xml", f"<image file='../outside.jpg'>\n{face_box()}\n</image>")
    train_refused("face", tmp_path, ["--data", xml], f"{xml}:3", "leaves the data folder")


def test_csv_path_escaping_the_data_root(tmp_path):
    jpeg(tmp_path / "outside.jpg")
    rows = good_rows()
    rows[2] = rows[2].replace("3.jpg", "../outside.jpg")
    csv = points_csv(tmp_path / "data", rows)
    train_refused("tshirt", tmp_path, ["--data", csv], f"{csv}:4", "leaves the data folder",
                  "--set data.allow_absolute_paths=true")


def test_coco_json_malformed(tmp_path):
    data = tmp_path / "faces.json"
    data.write_text('{"images": [{"id": 1, "file_name": "a.png"}], "annotations": [\n')
    train_refused("face", tmp_path, ["--data", data], data)


# ----------------------------------------------------------------------------------- SIGNS h5


def test_signs_h5_that_is_a_renamed_jpeg(tmp_path):
    fake = jpeg(tmp_path / "x.jpg").rename(tmp_path / "train_signs.h5")
    train_refused("signs", tmp_path, ["--data", fake], fake, "HDF5")


def test_signs_h5_with_wrong_keys(tmp_path):
    path = h5(tmp_path / "signs.h5", images=np.zeros((20, 8, 8, 3), np.uint8), labels=np.zeros(20, np.int64))
    train_refused("signs", tmp_path, ["--data", path], path, "train_set_x")


def test_signs_h5_label_outside_list_classes(tmp_path):
    y = np.arange(20, dtype=np.int64) % 6
    y[13] = 9
    path = h5(tmp_path / "signs.h5", train_set_x=np.zeros((20, 8, 8, 3), np.uint8), train_set_y=y,
              list_classes=np.arange(6))
    train_refused("signs", tmp_path, ["--data", path], f"{path}[train_set_y][13]")


# ------------------------------------------------------------------------------ class folders


def test_empty_class_folder_split(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / "data" / "train" / name).mkdir(parents=True)
    train_refused("sketch", tmp_path, ["--data", tmp_path / "data"], tmp_path / "data" / "train", "no images")


def test_class_folder_missing_from_the_class_list(tmp_path):
    for name in ("cat", "dog", "emu"):
        for i in range(4):
            jpeg(tmp_path / "data" / "train" / name / f"{i}.jpg")
    classes = tmp_path / "classes.csv"
    classes.write_text("Class,Category\ncat,0\ndog,1\n")
    train_refused("sketch", tmp_path, ["--data", tmp_path / "data", "--set", f"data.class_list={classes}"],
                  tmp_path / "data" / "train" / "emu")


def test_class_list_with_a_bad_index(tmp_path):
    for name in ("cat", "dog"):
        for i in range(4):
            jpeg(tmp_path / "data" / "train" / name / f"{i}.jpg")
    classes = tmp_path / "classes.csv"
    classes.write_text("Class,Category\ncat,0\ndog,one\n")
    train_refused("sketch", tmp_path, ["--data", tmp_path / "data", "--set", f"data.class_list={classes}"],
                  f"{classes}:3")


# ------------------------------------------------------------------------------------ weights


def test_weights_file_that_does_not_exist(tmp_path):
    train_refused("face", tmp_path, ["--weights", tmp_path / "resnet18.pth"], tmp_path / "resnet18.pth")


def test_weights_of_another_architecture(tmp_path):
    model = models.create("resnet34", num_outputs=10)
    shapes = models.variable_shapes(model, image_size=32)  # traced, not compiled
    variables = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    path = tmp_path / "resnet34.pth"
    weights.save_torchvision(variables, model, path)
    line = train_refused("face", tmp_path, ["--weights", path], path, "holds a resnet34, the model is a resnet18")
    assert "layer1.2" in line or "layer3.5" in line  # a key resnet18 has no place for


def test_weights_file_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_text("these are not weights\n")
    train_refused("face", tmp_path, ["--weights", path], path, "is not a PyTorch file")


# ------------------------------------------------------------------------------ batch and resume


def test_batch_size_larger_than_the_data_set(tmp_path):
    csv = points_csv(tmp_path / "data", good_rows(6), images=6)
    train_refused("tshirt", tmp_path, ["--data", csv, "--batch-size", "16"], "train.batch_size", "16")


def test_resume_with_another_architecture_is_refused(face_workdir):
    before = sorted(p.name for p in (face_workdir / "checkpoints").iterdir())
    config = (face_workdir / "config.json").read_text()
    result = run("face", ["train", "--workdir", face_workdir, *SMALL, "--set", "model.arch=resnet34", "--epochs", "2"])
    refused(result, "model.arch", str(face_workdir))
    assert (face_workdir / "config.json").read_text() == config
    assert sorted(p.name for p in (face_workdir / "checkpoints").iterdir()) == before


# ------------------------------------------------------------------------------------ predict


def test_predict_with_a_missing_input(tmp_path, face_workdir):
    good = jpeg(tmp_path / "good.jpg", size=(64, 64))
    out = tmp_path / "out"
    result = run("face", ["predict", "--workdir", face_workdir, "--out", out, good, tmp_path / "missing.jpg"])
    refused(result, tmp_path / "missing.jpg")
    assert not (out / "predictions.csv").exists()


def test_predict_on_a_file_that_is_no_image(tmp_path, face_workdir):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    out = tmp_path / "out"
    refused(run("face", ["predict", "--workdir", face_workdir, "--out", out, notes]), notes)
    assert not (out / "predictions.csv").exists()


def test_predict_on_an_image_that_does_not_decode(tmp_path, face_workdir):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    out = tmp_path / "out"
    refused(run("face", ["predict", "--workdir", face_workdir, "--out", out, broken]), broken)
    assert not (out / "predictions.csv").exists()


def test_export_to_a_suffix_the_format_does_not_write(tmp_path, face_workdir):
    out = tmp_path / "model.onnx"
    refused(run("face", ["export", "--workdir", face_workdir, "--format", "torchvision", "--out", out]), out, ".pth")
    assert not out.exists() and list(tmp_path.iterdir()) == []


# ---------------------------------------------------- the module itself: real processes, real status


@pytest.mark.parametrize(
    "task, args, names",
    [
        ("face", ["--set", "model.archh=resnet34"], ["model.archh"]),
        ("face", ["export", "--workdir", "{tmp}", "--format", "tflite", "--out", "{tmp}/m.tflite"], ["--format"]),
        ("bbox", ["train", "--data", "{tmp}/nowhere.csv"], ["{tmp}/nowhere.csv"]),
        ("signs", ["train", "--data", "{tmp}/train_signs.h5"], ["{tmp}/train_signs.h5", "HDF5"]),
        ("sketch", ["train", "--config", "{tmp}/missing_config.py"], ["{tmp}/missing_config.py"]),
    ],
    ids=["unknown-key", "export-format", "missing-data", "jpeg-as-h5", "missing-config"],
)
def test_the_module_exits_2_with_one_line(tmp_path, task, args, names):
    jpeg(tmp_path / "x.jpg").rename(tmp_path / "train_signs.h5")
    fill = lambda s: s.replace("{tmp}", str(tmp_path))  # noqa: E731
    argv = [fill(a) for a in args]
    if argv[0] not in ("train", "eval", "predict", "export"):
        argv = ["--workdir", str(tmp_path / "wd"), *argv]
    elif argv[0] == "train":
        argv[1:1] = ["--workdir", str(tmp_path / "wd")]
    refused(run(task, argv), *map(fill, names))
    nothing_trained(tmp_path / "wd")
    assert not (tmp_path / "m.onnx").exists()


def test_python_m_task_exits_2_with_one_line_as_a_process(tmp_path):
    """The status and the one line survive the real process (the cases above run in-process)."""
    result = run_module("bbox", ["train", "--workdir", tmp_path / "wd", "--data", tmp_path / "nowhere.csv"])
    refused(result, str(tmp_path / "nowhere.csv"), limit=SECONDS + 40)  # + starting Python and importing JAX
    nothing_trained(tmp_path / "wd")
