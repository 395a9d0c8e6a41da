"""The first hour on any machine (issue #28): a laptop without Linux's calls, no torch, what a run
prints, 500 classes, and the small things a new user trips over.

One tiny training for the whole file (signs, in-process): on a simulated laptop (no
`os.sched_getaffinity`, no `fcntl`, no `msvcrt`) and without torch, starting from a generated
ResNet-18 safetensors file in the weights cache; `eval`, `predict` and a resume run there too.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import types

import h5py
import numpy as np
import pytest
from PIL import Image

from cli_helpers import REPO, SYNTHETIC, TINY, run, task, use_session_cache
from jaxres import models, objectives, weights
from jaxres.config import defaults
from jaxres.cli.commands import report
from jaxres.cli.entry import build_parser
from jaxres.cli.commands.splits import synthetic_root
from jaxres.data.records import Record
from jaxres.errors import UserError, WeightsError
from jaxres.metrics.classification import per_class_table
from jaxres.platform import devices, system
from jaxres.train import tensorboard
from jaxres.train.workdir import WorkdirLock
from jaxres.viz import draw_curves
from jaxres.train.progress import Ticker, Timed
from jaxres.weights import imagenet, named
from tensorboard_events import image_tags, scalars


def _no_platform_calls(mp: pytest.MonkeyPatch) -> None:
    """What a laptop lacks: Linux's affinity call, positional reads (Windows) and both lock modules
    (so the lock is unenforced)."""
    mp.delattr(os, "sched_getaffinity", raising=False)
    mp.delattr(os, "pread", raising=False)
    mp.setitem(sys.modules, "fcntl", None)
    mp.setitem(sys.modules, "msvcrt", None)


@pytest.fixture(scope="module")
def laptop(tmp_path_factory):
    """Train, resume, evaluate and predict signs without sched_getaffinity, fcntl and torch, from a
    generated ResNet-18 in its safetensors form: {command: Run}, and the workdir."""
    with pytest.MonkeyPatch.context() as mp:
        use_session_cache(mp, tmp_path_factory)
        mp.setenv("JAXRES_CACHE", str(tmp_path_factory.mktemp("laptop_cache")))  # its own weights cache
        _no_platform_calls(mp)
        mp.setitem(sys.modules, "torch", None)  # `import torch` fails, as without the extra
        resnet18 = models.create("resnet18", num_outputs=1000)
        stored = imagenet.safetensors_place("resnet18")
        stored.parent.mkdir(parents=True)
        weights.save_torchvision(models.init(resnet18, 0, image_size=32), resnet18, stored)
        root = tmp_path_factory.mktemp("laptop")
        workdir = root / "run"
        runs = {"train": run("signs", ["train", "--workdir", workdir, "--weights", "imagenet", *TINY, *SYNTHETIC])}
        assert runs["train"].rc == 0, runs["train"].err
        runs["train"].events = tensorboard.event_files(workdir)  # the resume below writes its own
        runs["resume"] = run("signs", ["train", "--workdir", workdir, "--weights", "imagenet", *TINY, *SYNTHETIC])
        runs["eval"] = run("signs", ["eval", "--workdir", workdir])
        image = root / "sign.png"
        with h5py.File(synthetic_root(task("signs")) / "test_signs.h5") as f:
            Image.fromarray(f["test_set_x"][0]).save(image)
        runs["predict"] = run("signs", ["predict", "--workdir", workdir, "--out", root / "preds", image])
    (root / "outputs.txt").write_text("\n".join(f"== {c}\n{r.out}\n{r.err}\n{r.seconds:.1f} s" for c, r in runs.items()))
    return runs, workdir, stored


# ------------------------------------------------------------------------------------- 1. laptop


def test_a_laptop_trains_evaluates_and_predicts(laptop):
    runs, workdir, _ = laptop
    for command, result in runs.items():
        assert result.rc == 0, f"{command}: {result.err}"
    assert (workdir.parent / "preds" / "predictions.csv").is_file()
    assert runs["eval"].last_json()["n"] == runs["train"].last_json()["n"]


def test_cpus_and_locks_without_linux_calls(tmp_path, monkeypatch):
    assert system.usable_cpus() == len(os.sched_getaffinity(0))
    _no_platform_calls(monkeypatch)
    assert system.usable_cpus() == (os.cpu_count() or 1) and system.lock_kind() == "none"
    with WorkdirLock(tmp_path), WorkdirLock(tmp_path):  # nothing to lock with: not enforced, no crash
        pass


def test_windows_locks_through_msvcrt(tmp_path, monkeypatch):
    held: set = set()

    def locking(fd, mode, nbytes):  # msvcrt.locking's contract: OSError when another handle holds it
        key = os.fstat(fd).st_ino
        if mode == fake.LK_NBLCK:
            if key in held:
                raise OSError(13, "Permission denied")
            held.add(key)
        else:
            held.discard(key)

    fake = types.SimpleNamespace(LK_NBLCK=2, LK_UNLCK=0, locking=locking)
    monkeypatch.delattr(os, "pread")
    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    assert system.lock_kind() == "msvcrt"
    with WorkdirLock(tmp_path):
        with pytest.raises(UserError, match=f"another training \\(pid {os.getpid()} on"):
            WorkdirLock(tmp_path).acquire()
    with WorkdirLock(tmp_path):  # released
        pass


def test_no_call_that_windows_lacks_or_misreads_is_made_there(tmp_path, monkeypatch):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert system.process_gone(child.pid) and not system.process_gone(os.getpid())
    system.sync_folder(tmp_path)
    monkeypatch.setattr(os, "name", "nt")
    monkeypatch.setattr(os, "kill", lambda *a: pytest.fail("os.kill(pid, 0) ends the process on Windows"))
    monkeypatch.setattr(os, "open", lambda *a, **k: pytest.fail("Windows cannot open a folder"))
    assert system.process_gone(child.pid) is False  # cannot tell: the frame cache waits for staleness
    system.sync_folder(tmp_path)


def test_the_platform_seam_imports_no_command_line_and_defaults_no_kind():
    def imported(path: str) -> set[str]:
        tree = ast.parse((REPO / path).read_text())
        return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module} | {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}

    assert not any(m.startswith("jaxres.cli.entry") for m in imported("jaxres/platform/host_memory.py"))
    assert not any("objectives" in m for m in imported("jaxres/config/defaults.py"))
    assert defaults.KIND_DEFAULTS["keypoints"] is objectives.KeypointObjective.DEFAULTS
    for path in (REPO / "jaxres").rglob("*.py"):
        if path.parent.name != "platform":
            text = path.read_text()
            assert not any(call in text for call in ("sched_getaffinity", "fcntl", "msvcrt", "os.kill(", "os.pread")), path


# ------------------------------------------------------------------------------------- 2. no torch


def test_the_default_weights_load_from_safetensors_without_torch(laptop):
    runs, _, stored = laptop
    assert f"weights: {stored}" in runs["train"].out


class _Hub:
    """A loopback stand-in for huggingface.co: /timm/<name>/resolve/main/model.safetensors with the
    SHA-256 in X-Linked-Etag (or a wrong one, or none)."""

    def __init__(self, files: dict[str, tuple[bytes, str | None]]):
        self.requests: list[str] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hub.requests.append(self.path)
                name = self.path.split("/")[2] if self.path.count("/") >= 5 else ""
                if name not in files:
                    self.send_error(404)
                    return
                payload, etag = files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                if etag:
                    self.send_header("X-Linked-Etag", f'"{etag}"')
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    payload = b"safetensors bytes standing in for resnet18's"
    good = hashlib.sha256(payload).hexdigest()
    server = _Hub({"resnet18.tv_in1k": (payload, good), "resnet34.tv_in1k": (payload, "0" * 64),
                   "resnet50.tv_in1k": (payload, None)})
    monkeypatch.setenv("JAXRES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("JAXRES_HF_BASE_URL", server.url)
    monkeypatch.setenv("JAXRES_WEIGHTS_BASE_URL", "http://127.0.0.1:9/")  # the .pth server is unreachable
    monkeypatch.setitem(sys.modules, "torch", None)
    yield server, payload, good
    server.httpd.shutdown()


def test_without_torch_imagenet_downloads_the_safetensors_form_once(hub, monkeypatch):
    server, payload, digest = hub
    assert not named.torch_installed() and named.cached_path("imagenet", "resnet18") is None
    path = named.fetch("imagenet", "resnet18")
    assert path.read_bytes() == payload and path.name == f"resnet18.tv_in1k-{digest[:12]}.safetensors"
    assert server.requests == ["/timm/resnet18.tv_in1k/resolve/main/model.safetensors"]
    monkeypatch.setenv("JAXRES_HF_BASE_URL", "http://127.0.0.1:9/")  # offline now
    assert named.fetch("imagenet", "resnet18") == path == named.cached_path("imagenet", "resnet18")
    path.write_bytes(b"damaged")  # a cached file that no longer matches its name is not used
    assert named.cached_path("imagenet", "resnet18") is None


def test_a_wrong_or_missing_checksum_is_not_kept(hub):
    with pytest.raises(WeightsError, match="fails its SHA-256 check"):
        imagenet.fetch_safetensors("resnet34")
    with pytest.raises(WeightsError, match="states no SHA-256"):
        imagenet.fetch_safetensors("resnet50")
    assert not list(imagenet.cache_dir().glob("*.safetensors"))


def test_offline_the_error_names_both_files_and_where_to_put_them(hub, monkeypatch):
    monkeypatch.setenv("JAXRES_HF_BASE_URL", "http://127.0.0.1:9/")
    with pytest.raises(WeightsError) as err:
        named.fetch("imagenet_v2", "resnet50")
    message = str(err.value)
    assert "http://127.0.0.1:9/timm/resnet50.tv2_in1k/resolve/main/model.safetensors" in message
    assert str(imagenet.cache_dir() / "resnet50.tv2_in1k.safetensors") in message
    assert "resnet50-11ad3fa6.pth" in message and str(imagenet.cache_dir()) in message


# ------------------------------------------------------------------------ 3 and 4. what a run says


def test_the_run_names_its_devices_compiles_aloud_and_resumes_by_name(laptop):
    runs, workdir, _ = laptop
    out = runs["train"].out
    assert "on 1 device (cpu, float32)" in out  # conftest's one CPU device
    assert "compiling the train step ... " in out and "validating (compiling the eval step first) ... " in out
    resumed = runs["resume"].out
    assert f"weights: {workdir / 'checkpoints'}" in resumed and "random initialisation" not in resumed


def test_device_kinds_in_words():
    gpu = types.SimpleNamespace(platform="gpu", device_kind="NVIDIA H100 80GB HBM3")
    assert devices.describe([gpu], "bfloat16") == "1 device (gpu: NVIDIA H100 80GB HBM3, bfloat16)"
    cpu = types.SimpleNamespace(platform="cpu", device_kind="cpu")
    assert devices.describe([cpu, cpu]) == "2 devices (cpu)"


def test_a_counted_job_shows_a_bar_on_a_terminal_and_lines_in_a_pipe():
    pipe, terminal = io.StringIO(), io.StringIO()
    for stream, interactive in ((pipe, False), (terminal, True)):
        with Ticker("decoding", 4, stream=stream, interactive=interactive, every_s=0.0) as ticker:
            for _ in range(4):
                ticker.tick()
    lines = pipe.getvalue().splitlines()
    assert lines[0].startswith("decoding 1/4 (") and lines[-1].startswith("decoding: 4/4 in ")
    assert "\r" not in pipe.getvalue() and "\rdecoding [######" in terminal.getvalue()
    quiet = io.StringIO()
    with Ticker("validating", 3, stream=quiet, interactive=False) as ticker:  # done within 5 s
        ticker.tick(3)
    assert quiet.getvalue() == ""
    timed = io.StringIO()
    with Timed("compiling the train step", timed):
        pass
    assert timed.getvalue().startswith("compiling the train step ... ") and timed.getvalue().endswith(" s\n")


def test_decoding_into_the_frame_cache_reports_each_record(tmp_path):
    from jaxres.data import frame_cache
    from jaxres.data.frame_cache import FrameSpec

    class Spy:
        def __init__(self, what, total):
            self.what, self.total, self.ticks, self.closed = what, total, 0, False
            spies.append(self)

        def tick(self):
            self.ticks += 1

        def close(self):
            self.closed = True

    spies: list = []
    records = [Record(np.full((8, 8, 3), i, np.uint8), f"set:{i}") for i in range(5)]
    spec = FrameSpec(side=8, channels=3, settings={"test": "first hour"})
    frame_of = lambda record, w, h: np.eye(3)  # noqa: E731
    frame_cache.load_or_build(records, spec, frame_of, root=tmp_path, progress=Spy)
    frame_cache.load_or_build(records, spec, frame_of, root=tmp_path, progress=Spy)  # all cached: no job
    assert [(s.total, s.ticks, s.closed) for s in spies] == [(5, 5, True)]


# --------------------------------------------------------------------------------- 5. 500 classes


def _five_hundred_classes(seed: int = 0):
    rng = np.random.default_rng(seed)
    names = [f"n{i:08d}" for i in range(500)]
    truth = rng.integers(0, 500, 4000)
    guess = np.where(rng.random(4000) < 0.5, truth, rng.integers(0, 500, 4000))
    matrix = np.bincount(truth * 500 + guess, minlength=500 * 500).reshape(500, 500)
    return names, per_class_table(matrix, names)


def test_500_classes_chart_and_log_only_the_headline(tmp_path):
    names, table = _five_hundred_classes()
    history = [{"step": 10, "epoch": 1, "split": "train", "loss": 2.0, "lr": {"head": 0.1}},
               {"step": 10, "epoch": 1, "split": "val", "top1": 0.4, "macro_f1": 0.3, "count": 4000,
                "per_class": table},
               {"step": 20, "epoch": 2, "split": "val", "top1": 0.5, "macro_f1": 0.4, "count": 4000,
                "per_class": table}]
    written, problems = draw_curves(history, tmp_path, "sketch")
    assert not problems and {p.name for p in written} == {"loss.png", "metrics.png"}
    with Image.open(tmp_path / "metrics.png") as image:
        assert image.height < 1000 and image.width < 2000, image.size  # two panels: top1, macro_f1
    board = tensorboard.Board(tmp_path)
    for record in history:
        board.record(record)
    board.close()
    assert set(scalars(tmp_path)) == {"train/loss", "lr/head", "val/top1", "val/macro_f1"}


def test_500_classes_go_to_per_class_csv_and_the_worst_are_named(tmp_path):
    names, table = _five_hundred_classes()
    result = {"split": "test", "n": 4000, "top1": 0.5, "count": 4000, "per_class": table, "baseline": {"top1": 0.01}}
    path = report.write_per_class(result, tmp_path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(table) and set(rows[0]) == {"class", "precision", "recall", "f1", "support"}
    assert sum(int(r["support"]) for r in rows) == 4000
    text = report.ending(result, best=None, files={})
    worst = report.worst_classes(table)
    assert len(worst) == 5 and all(row["f1"] <= min(r["f1"] for n, r in table.items()
                                                      if r["support"] and n not in dict(worst)) for _, row in worst)
    assert f"lowest F1 of {len(table)} classes: {worst[0][0]} " in text and "per_class.csv" in text
    assert {row[0] for row in report.metric_rows(result)} == {"top1"}  # not the count, not the table


def test_a_trained_classifier_writes_per_class_csv_and_one_event_file(laptop):
    runs, workdir, _ = laptop
    final = runs["train"].last_json()
    with open(workdir / "per_class.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["class"] for r in rows} == set(final["per_class"]) and "lowest F1 of" in runs["train"].out
    assert len(runs["train"].events) == 1  # the curves and the pictures share one file
    assert image_tags(workdir) == {"pictures/predictions", "pictures/confusion"}
    assert not any(tag.startswith("val/per_class") or tag.endswith("count") for tag in scalars(workdir))
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert any("per_class" in r for r in records if r["split"] == "val")


# ------------------------------------------------------------------------------- 6. small things


def test_help_texts_and_examples():
    face = build_parser(task("face"), "jaxres face")
    sub = face._subparsers._group_actions[0].choices
    assert "--weights imagenet_v2" not in sub["train"].format_help()  # ResNet-18 has no V2 weights
    assert "--weights imagenet" in build_parser(task("signs"))._subparsers._group_actions[0].choices["train"].format_help()
    for command, options in {"eval": ("--split", "--data"), "predict": ("--out", "INPUT"), "export": ("--out",)}.items():
        helps = {a.dest: a.help for a in sub[command]._actions}
        for option in options:
            dest = option.lstrip("-") if option != "INPUT" else "inputs"
            assert helps[dest], f"{command} {option} has no help"
    from jaxres.cli import console

    assert "cache" in console.usage().splitlines()[0] and "config" in console.usage().splitlines()[0]


def test_a_misspelled_key_gets_a_did_you_mean():
    result = run("face", ["train", "--set", "train.lr=0.1"])
    assert result.rc == 2 and "did you mean 'optim.lr'?" in result.err, result.err
    result = run("face", ["train", "--set", "optim.wieght_decay=0.1"])
    assert result.rc == 2 and "did you mean 'optim.weight_decay'?" in result.err, result.err


def test_the_config_command_lists_every_key_with_default_and_type():
    result = run("face", ["config", "--set", "optim.lr=0.5"])
    assert result.rc == 0, result.err
    lines = {line.split()[0]: line.split()[1:] for line in result.out.splitlines()[1:]}
    assert lines["optim.lr"][0] == "0.5" and lines["optim.lr"][1] == "float"
    assert lines["model.arch"] == ["'resnet18'", "str"] and lines["objective.kind"] == ["'keypoints'", "str"]
    assert "synthetic.overrides" in lines and not any(k.startswith("synthetic.overrides.") for k in lines)


def test_help_into_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "jaxres", "--help"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    proc.stdout.close()  # `| head` that has already gone
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_a_classifiers_picture_label_keeps_class_and_probability_apart(monkeypatch, tmp_path):
    from PIL import ImageDraw

    texts = []
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, text, **k: texts.append(text))
    objective = objectives.create(defaults.objective({"kind": "classification", "image_size": 32}),
                                  {"classes": [str(i) for i in range(6)]})
    image = tmp_path / "sign.png"
    Image.new("RGB", (64, 64)).save(image)
    objective.picture(Record(str(image), "x:1", label=4), np.array([0.1, 0.1, 0.2, 0.1, 0.28, 0.22]))
    assert texts == ["4 (p=0.28) / true 4"]


def test_a_face_picture_shows_the_faces_box_not_the_group_photo(tmp_path):
    photo = tmp_path / "group.png"
    Image.new("RGB", (1000, 600), (40, 40, 40)).save(photo)
    objective = objectives.create(defaults.objective({"kind": "keypoints", "image_size": 32}), {"num_keypoints": 2})
    points = np.array([[510.0, 310.0], [580.0, 380.0]])
    record = Record(str(photo), "x:1", keypoints=points, box=np.array([500.0, 300.0, 600.0, 400.0]))
    picture = objective.picture(record, points + 2)
    assert picture.size == (256, 256)  # the box, 100 px, and 30 % of it on each side, enlarged 1.6 times
    assert np.asarray(picture)[64, 64].tolist() != [40, 40, 40]  # the true point (40, 40) of the crop, * 1.6
