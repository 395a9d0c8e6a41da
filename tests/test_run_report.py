"""Around a run: TensorBoard event files, metric panels, the whole-run ETA, the config changes at
the start and the table at the end."""

import io
import json
import os

import numpy as np
from PIL import Image

import tensorboard_events as tb
import train_helpers as H
from jaxres import viz
from jaxres.cli.commands import report
from jaxres.data.pipeline import PipelineStats
from jaxres.train import optim
from jaxres.train.progress import Progress, RunClock
from jaxres.train.tensorboard import Board, scalars


def test_fit_writes_event_files_with_every_scalar(tmp_path):
    stats = PipelineStats(batches=3, wait_s=1.0, total_s=4.0)
    rates = optim.learning_rates(H.STAGED, H.SPE, H.EPOCHS)
    H.fit_run(tmp_path, learning_rate=rates, data_stats=stats, stream=io.StringIO())
    found = tb.scalars(tmp_path)
    for tag in ("train/loss", "train/images_per_s", "train/data_wait", "lr/head", "lr/layer4", "lr/stem", "val/top1"):
        assert tag in found, (tag, sorted(found))
    assert [(step, round(v, 6)) for step, v in found["val/top1"]] == [(3, 0.7), (6, 0.4)]  # float32 in the file
    assert found["train/data_wait"][0] == (2, 0.25)
    # staged unfreezing: layer4 is frozen (rate 0) in epoch 1 and trains in epoch 2; the stem never does
    assert [v for _, v in found["lr/layer4"]][:2] == [0.0, 0.0] and found["lr/layer4"][-1][1] > 0
    assert all(v == 0.0 for _, v in found["lr/stem"]) and all(v > 0 for _, v in found["lr/head"])
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    assert set(train[0]["lr"]) == set(optim.GROUPS) and train[0]["lr"]["head"] > 0


def test_tensorboard_off_and_pictures(tmp_path):
    H.fit_run(tmp_path / "off", config={**H.RUN_CONFIG, "train": {**H.RUN_CONFIG["train"], "tensorboard": False}},
              stream=io.StringIO())
    assert not list((tmp_path / "off").glob("events.out.tfevents.*"))
    picture = tmp_path / "predictions.png"
    Image.new("RGB", (20, 10), (255, 0, 0)).save(picture)
    board = Board(tmp_path / "on")
    board.pictures([picture], step=7)
    board.close()
    assert tb.image_tags(tmp_path / "on") == {"pictures/predictions"}


def test_scalars_flatten_groups_and_skip_tables():
    record = {"step": 4, "epoch": 1, "split": "val", "top1": 0.5, "acc": [0.1, 0.2], "name": "x",
              "per_subset": {"common": 0.1}}
    assert scalars(record) == {"val/top1": 0.5, "val/per_subset/common": 0.1}
    assert scalars({"step": 1, "split": "train", "loss": 1.0, "lr": {"head": 0.1}}) == {"train/loss": 1.0, "lr/head": 0.1}


def test_metric_panels_each_have_their_own_axis(tmp_path):
    history = {"nme_io": [(10, 0.4), (20, 0.2)], "mean_error_px": [(10, 16.0), (20, 4.0)], "auc": [(10, 0.1), (20, 0.3)]}
    sheet = viz.plot_panels(history, tmp_path / "metrics.png", "face", baselines={"nme_io": 0.17}, best_step=20,
                            panel_size=(300, 200))
    assert sheet.size == (2 * 300 + 3 * 4, 2 * 200 + 3 * 4)  # three panels, two per row
    pixels = np.asarray(sheet)
    # the baseline's dashed line sits inside the NME panel's plot area, at y(0.17) on its own axis
    orange = np.all(pixels[: 200, : 300] == viz.PALETTE[1], axis=-1)
    assert orange.sum() > 50


def test_progress_shows_the_whole_runs_eta():
    clock = RunClock(total_steps=100)
    progress = Progress(1, 10, 10, stream=io.StringIO(), interactive=False, clock=clock)
    assert progress.line(0, 0.5, 3.0).endswith("ETA ? (run ?)")  # the first interval (the compile) is left out
    clock._origin = (clock._origin[0] - 10.0, clock._origin[1])  # 10 s for the next 10 steps: 80 left
    line = progress.line(10, 0.5, 3.0)
    assert line.endswith("ETA 0:00 (run 1:20)"), line


def test_config_changes_name_each_key_and_tag_the_embedded_sets():
    defaults = {"optim": {"lr": 1e-4, "name": "adam"}, "train": {"epochs": 30}, "synthetic": {"overrides": {}}}
    config = {"optim": {"lr": 1e-3, "name": "adam"}, "train": {"epochs": 2}, "synthetic": {"overrides": {"x": 1}}}
    text = report.config_changes(defaults, config, {"optim.lr": 1e-3, "train.epochs": 16}, "a few CPU minutes")
    assert text.splitlines() == ["config (differs from the task's defaults):",
                                 "  optim.lr      0.0001 -> 0.001  (embedded demo run)",
                                 "  train.epochs  30 -> 2",
                                 "  the embedded demo run (no --data) changes the keys marked: a few CPU minutes; "
                                 "pass --data to train with the task's own settings"]
    assert report.config_changes(defaults, defaults) == ""


def test_the_ending_table():
    result = {"split": "test", "n": 64, "nme_io": 0.050123456, "fr@0.08": 0.0, "names": ["a"],
              "baseline": {"nme_io": 0.171666, "fr@0.08": 0.984375}}
    text = report.ending(result, best=(14, 252),
                         files={"checkpoints": ["runs/face/checkpoints/252"], "curves": ["runs/face/metrics.png"],
                                "tensorboard": ["tensorboard --logdir runs/face"], "pictures": []})
    lines = text.splitlines()
    assert lines[0] == "result on test (64 records), best checkpoint: epoch 14, step 252"
    assert lines[1].split() == ["metric", "model", "baseline"]
    assert lines[2].split() == ["nme_io", "0.05012", "0.1717"] and lines[3].split() == ["fr@0.08", "0", "0.9844"]
    assert "checkpoints  runs/face/checkpoints/252" in lines and "tensorboard  tensorboard --logdir runs/face" in lines
    assert not any(line.startswith("pictures") for line in lines)
    assert report.best_epoch([{"step": 252, "epoch": 14, "split": "val"}], 252) == (14, 252)


def test_a_tasks_training_ends_with_the_table_before_the_json(tmp_path_factory):
    import pytest

    from cli_helpers import trained, use_session_cache

    with pytest.MonkeyPatch.context() as mp:
        use_session_cache(mp, tmp_path_factory)
        result = trained("face", tmp_path_factory)
    lines = result.out.splitlines()
    assert lines[0] == "config (differs from the task's defaults):"
    assert ["train.epochs", "30", "->", "1"] in [line.split() for line in lines[:12]], lines[:12]
    assert any(" img/s ETA " in line and "(run " in line for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("result on test"))
    assert "best checkpoint: epoch 1, step" in lines[start]
    table = dict(line.split(None, 1) for line in lines[start + 2:] if line.startswith("  "))
    json_line = result.last_json()
    assert table["nme_io"].split() == [f"{json_line['nme_io']:.4g}", f"{json_line['baseline']['nme_io']:.4g}"]
    assert any(line.startswith("tensorboard  tensorboard --logdir ") for line in lines)
    found = tb.scalars(result.workdir)
    assert {"train/loss", "val/nme_io", "lr/head", "train/data_wait", "epoch/data_wait"} <= set(found)
    assert "pictures/predictions" in tb.image_tags(result.workdir)
    records = [json.loads(line) for line in (result.workdir / "metrics.jsonl").read_text().splitlines()]
    per_epoch = [r for r in records if r["split"] == "epoch"]
    assert [r["epoch"] for r in per_epoch] == [1] and 0.0 <= per_epoch[0]["data_wait"] <= 1.0


def test_the_embedded_demo_run_says_what_it_changes_and_why():
    """`python -m tasks.tshirt` trains ResNet-18 at 48 px under a config that says ResNet-50 at 224:
    it prints each changed key and the task config's reason; with --data nothing differs."""
    import types

    from jaxres.cli.commands.train import build_config, config_changes_text
    from tasks import tshirt

    args = types.SimpleNamespace(config=None, data=None, set=[], weights=None, epochs=None, batch_size=None, seed=None)
    text = config_changes_text(tshirt.TASK, build_config(tshirt.TASK, args))
    lines = [line.split() for line in text.splitlines()]
    assert ["model.arch", "'resnet50'", "->", "'resnet18'", "(embedded", "demo", "run)"] in lines
    assert ["objective.image_size", "224", "->", "48", "(embedded", "demo", "run)"] in lines
    assert "pass --data to train with the task's own settings" in text and "a few CPU minutes" in text
    given = types.SimpleNamespace(**{**vars(args), "data": "shirts/"})
    assert config_changes_text(tshirt.TASK, build_config(tshirt.TASK, given)).splitlines() == [
        "config (differs from the task's defaults):", f"  data.path  None -> {os.path.abspath('shirts')!r}"]
