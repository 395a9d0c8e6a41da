"""End-to-end exports: the ONNX and StableHLO files take the original photo (and box) and answer in its
pixels, run by processes that never import jaxres, on the real sample photos, and agree with the
`predict` command's CSV. The torchvision export's written loading lines are executed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest

from cli_helpers import run, trained, use_session_cache

# A server: PIL + numpy + the runtime, nothing of jaxres. argv: format, then a JSON list of
# {"model", "photo", "box" (or null)}; prints the outputs and the metadata as JSON.
SERVER = r"""
import json, sys
import numpy as np
from PIL import Image, ImageOps
fmt, jobs = sys.argv[1], json.loads(sys.argv[2])
results, meta, loaded = [], {}, {}


def open_model(path):
    # (call, metadata, (input names, output names)) of an exported file, opened once
    if fmt == "onnx":
        import onnx, onnxruntime
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        info = {p.key: p.value for p in onnx.load(path).metadata_props}
        for key, value in info.items():  # strings are stored as they are, everything else as JSON
            try:
                info[key] = json.loads(value)
            except ValueError:
                pass
        names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
        return (lambda *inputs: session.run(None, dict(zip(names[0], inputs)))[0]), info, names
    import jax
    exported = jax.export.deserialize(bytearray(open(path, "rb").read()))
    sidecar = json.load(open(path + ".json"))
    call = jax.jit(exported.call)  # one compilation per photo shape
    return (lambda *inputs: np.asarray(call(*inputs))), sidecar["metadata"], (list(sidecar["inputs"]), list(sidecar["output"]))


for job in jobs:
    if job["model"] not in loaded:
        loaded[job["model"]] = open_model(job["model"])
    call, info, names = loaded[job["model"]]
    mode = "L" if info["channels"] == 1 else "RGB"
    photo = np.asarray(ImageOps.exif_transpose(Image.open(job["photo"])).convert(mode))
    photo = photo[:, :, None] if photo.ndim == 2 else photo
    inputs = [photo] + ([] if job["box"] is None else [np.asarray(job["box"], np.float32)])
    results.append(np.asarray(call(*inputs)).tolist())
    meta[job["model"]] = {"info": info, "names": names}
assert "jaxres" not in sys.modules and "flax" not in sys.modules, "the server imported jaxres"
print(json.dumps({"results": results, "meta": meta}))
"""


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        use_session_cache(patch, tmp_path_factory)
        yield {name: trained(name, tmp_path_factory).workdir for name in ("face", "tshirt")}


def _regions(workdir, photos, points):
    """T-shirt boxes: the first half whole photos (the CSV's points stand), the rest a region of the
    photo, framed as a whole photo, with `jaxres.load`'s points for it."""
    import jaxres

    predictor, boxes, points = jaxres.load(workdir), [], points.copy()
    for i, path in enumerate(photos):
        h, w = predictor.photo(path).shape[:2]
        boxes.append([0.0, 0.0, float(w), float(h)] if i < len(photos) // 2 else [0.1 * w, 0.05 * h, 0.7 * w, 0.9 * h])
        if i >= len(photos) // 2:
            points[i] = predictor.predict(path, boxes[-1]).keypoints
    return boxes, points


@pytest.fixture(scope="module")
def jobs(workdirs, shared_data, tmp_path_factory):
    """Per task: the photos, their boxes and the points `predict` gives for them, from the real sample data."""
    out = tmp_path_factory.mktemp("e2e")
    faces, shirts = shared_data / "dlib_faces", shared_data / "tshirt_points_24" / "t-shirt_resized_train"
    inputs = {"face": [faces / "testing_with_face_landmarks.xml"], "tshirt": sorted(shirts.glob("*.jpg"))[:4]}
    cases = {}
    for task, paths in inputs.items():
        done = run(task, ["predict", "--workdir", workdirs[task], "--out", out / task, *paths])
        assert done.rc == 0, done.err
        table = pd.read_csv(out / task / "predictions.csv", dtype={"image": str})
        if task == "face":
            table = table[table["image"] == table["image"].iloc[0]]  # the first photo's six faces
        folder = faces if task == "face" else shirts
        photos = [str(folder / (n if n.endswith(".jpg") else f"{n}.jpg")) for n in table["image"]]
        k = sum(c.startswith("x") and c[1:].isdigit() for c in table.columns)
        points = table[[f"{a}{i}" for i in range(k) for a in "xy"]].to_numpy(float).reshape(len(table), k, 2)
        if task == "face":
            boxes = [[r.box_left, r.box_top, r.box_width, r.box_height] for r in table.itertuples()]
        else:
            boxes, points = _regions(workdirs[task], photos, points)
        cases[task] = (photos, boxes, points)
    return out, cases


@pytest.mark.parametrize("fmt, suffix", [("onnx", ".onnx"), ("stablehlo", ".hlo")])
def test_the_export_answers_in_photo_pixels_like_predict(fmt, suffix, workdirs, jobs, tmp_path):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    _, cases = jobs
    todo = []
    for task, (photos, boxes, _) in cases.items():
        model = tmp_path / f"{task}{suffix}"
        done = run(task, ["export", "--workdir", workdirs[task], "--format", fmt, "--out", model])
        assert done.rc == 0, done.err
        todo += [{"model": str(model), "photo": p, "box": b} for p, b in zip(photos, boxes)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", SERVER, fmt, json.dumps(todo)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout.splitlines()[-1])
    got = iter(answer["results"])
    for task, (photos, _, points) in cases.items():
        served = np.array([next(got) for _ in photos])
        assert served.shape == points.shape
        assert np.abs(served - points).max() <= 0.05, (task, fmt, np.abs(served - points).max())
        meta = answer["meta"][str(tmp_path / f"{task}{suffix}")]
        assert meta["names"] == [["photo", "box"], ["keypoints"]]
        info = meta["info"]
        assert list(info["inputs"]) == ["photo", "box"] and "left, top, width, height" in info["inputs"]["box"]
        assert info["task"] == task and info["num_keypoints"] == points.shape[1]
        assert sorted(info["flip_map"]) == list(range(points.shape[1])) and info["flip_map"] != sorted(info["flip_map"])


def _torchvision(torch):
    """torchvision itself where it imports; else (its compiled ops can mismatch the installed torch, as
    on the CPU dev machines) a module holding torchvision's own resnet code (`torch_reference`)."""
    try:
        import torchvision

        return torchvision
    except Exception:  # noqa: BLE001
        for name in [n for n in sys.modules if n.split(".")[0] == "torchvision"]:
            del sys.modules[name]  # the half-imported package would hide its spec
    from torch_reference import torch_models, torchvision_resnet

    if torch_models.resnet_source() is None:
        pytest.skip("torchvision is not installed")
    module = types.ModuleType("torchvision")
    module.__spec__ = importlib.util.find_spec("torchvision")  # where its resnet.py source is read from
    archs = {a: (lambda a: lambda num_classes: torchvision_resnet(a, num_classes))(a) for a in ("resnet18", "resnet50")}
    module.models = types.SimpleNamespace(**archs)
    return module


def _execute(code: str, folder, torch, monkeypatch):
    monkeypatch.chdir(folder)
    monkeypatch.setitem(sys.modules, "torchvision", _torchvision(torch))
    namespace: dict = {}
    exec(compile(code, "loading lines", "exec"), namespace)  # strict=True is in the lines
    return namespace["model"]


def test_the_torchvision_export_prints_and_writes_the_lines_that_load_it(workdirs, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    out = tmp_path / "face.pth"
    done = run("face", ["export", "--workdir", workdirs["face"], "--format", "torchvision", "--out", out])
    assert done.rc == 0, done.err
    code = (tmp_path / "face.pth.txt").read_text()
    assert code in done.out and "torch.nn.Conv2d(1, 64" in code and "strict=True" in code
    net = _execute(code, tmp_path, torch, monkeypatch)
    assert net.conv1.in_channels == 1 and net.fc.out_features == 136


def test_the_mlp_heads_lines_build_its_sequential(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from jaxres import models
    from jaxres.export import artifacts as export

    model = models.create("resnet18", num_outputs=5, head="mlp", hidden=16, dropout=0.5)
    export.export("torchvision", model, models.init(model, 0, image_size=32), tmp_path / "sketch.safetensors")
    net = _execute((tmp_path / "sketch.safetensors.txt").read_text(), tmp_path, torch, monkeypatch)
    assert isinstance(net.fc, torch.nn.Sequential) and net.fc[-1].out_features == 5


def test_the_flip_test_travels_into_the_exports(workdirs, shared_data, tmp_path):
    import jaxres
    from jaxres.export import artifacts as export

    predictor = jaxres.load(workdirs["face"], {"objective.flip_test": True})
    photo, box = predictor.photo(shared_data / "dlib_faces" / "2008_002470.jpg"), [274.0, 181.0, 52.0, 53.0]
    expected = predictor.predict(photo, box).keypoints
    for fmt in ("stablehlo", "onnx"):
        path = tmp_path / f"face.{fmt}"
        done = run("face", ["export", "--workdir", workdirs["face"], "--format", fmt, "--out", path,
                            "--set", "objective.flip_test=true"])
        assert done.rc == 0, done.err
        if fmt == "stablehlo":
            np.testing.assert_allclose(export.load_stablehlo(path)(photo, box), expected, atol=1e-3)
            assert json.loads(export.sidecar_path(path).read_text())["metadata"]["flip_test"] is True
        elif importlib.util.find_spec("onnxruntime") is not None:  # in-process: it is the graph that is checked
            import onnx
            import onnxruntime

            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            (got,) = session.run(None, {"photo": photo, "box": np.asarray(box, np.float32)})
            np.testing.assert_allclose(got, expected, atol=0.05)
            assert {p.key: p.value for p in onnx.load(str(path)).metadata_props}["flip_test"] == "true"


def test_a_region_given_to_a_whole_photo_task_is_framed_as_a_whole_photo():
    """The box task's (and the T-shirt's) box: the photo's region framed as training frames whole
    photos, its corners where a photo of its size has them; the whole photo's box is no box."""
    from jaxres import objectives
    from jaxres.objectives import serving

    kind = objectives.create({"kind": "box", "image_size": 32, "channels": 3, "keep_aspect": True})
    assert kind.takes_box and not kind.needs_box
    whole = serving.view(kind, 80.0, 50.0, np.array([0.0, 0.0, 80.0, 50.0]), serving.NUMPY)
    np.testing.assert_allclose(whole, kind.view(80.0, 50.0, None, serving.NUMPY))
    sx, sy, tx, ty = serving.view(kind, 80.0, 50.0, np.array([20.0, 10.0, 60.0, 30.0]), serving.NUMPY)
    rx, ry, rtx, rty = kind.view(40.0, 20.0, None, serving.NUMPY)
    for (x, y), (u, v) in (((20.0, 10.0), (0.0, 0.0)), ((60.0, 30.0), (40.0, 20.0))):
        np.testing.assert_allclose([sx * x + tx, sy * y + ty], [rx * u + rtx, ry * v + rty])
