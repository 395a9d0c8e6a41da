"""One smoke test per benchmark command: each runs on its smallest input and produces its rows and
table, so that the commands behind docs/BENCHMARKS.md keep running as the library moves."""

import json
import pathlib

import numpy as np
import pytest

from benchmarks import device_check, input_bench, recipes, run


def test_run_times_a_setting_against_pytorch(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "run.json"
    run.main(["--only", "train", "face", "--size", "32", "--batch", "2", "--repeats", "1", "--no-write",
              "--json", str(out)])
    face = json.loads(out.read_text())["settings"]["face"]
    assert "error" not in face, face
    assert face["train"]["jaxres"]["img_s"] > 0 and face["train"]["torch"]["img_s"] > 0
    assert face["train"]["jaxres"]["gflop_per_step"] > 0  # XLA's count of the CPU step
    assert "| face | resnet18 · 1×32² · 2 |" in capsys.readouterr().out


def test_input_bench_measures_every_recipe_and_trains_end_to_end(tmp_path, capsys):
    out = tmp_path / "rows.json"
    input_bench.main(["--quick", "--e2e", "face", "--json", str(out)])
    rows = json.loads(out.read_text())
    per_task = {r["task"]: r for r in rows if r["measure"] == "host_cpu_per_image"}
    assert sorted(per_task) == sorted(input_bench.TASKS)
    for row in per_task.values():
        assert 0 < row["later_cpu_ms"] < row["first_epoch_cpu_ms"]  # a gather costs less than a decode
        assert row["disk_bytes_per_image"] >= row["side"] ** 2 * row["channels"]
    e2e = [r for r in rows if r["measure"] == "end_to_end"]
    assert [r["set"] for r in e2e] == ["photos", f"precropped {input_bench.PRECROP}"]
    assert all(r["images_per_s"] > 0 and r["step_only_images_per_s"] > 0 for r in e2e)
    torch_rows = [r["task"] for r in rows if r["measure"] == "torch_dataloader"]
    try:
        import torch  # noqa: F401
        assert torch_rows == ["face", "sketch"]
    except ImportError:
        assert torch_rows == []
    table = capsys.readouterr().out
    assert "| face | 349²×1 |" in table and "| face | resnet18 32 px | photos | 32 |" in table


def test_recipes_trains_a_fold_beside_a_baseline_and_tables_them(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "rows.jsonl"
    assert recipes.main(["--sets", "digits", "--recipes", "default", "svm", "--folds", "2", "--repeats", "1",
                         "--only-folds", "0", "--train-size", "60", "--set", "model.arch=resnet18",
                         "--set", "train.epochs=1", "--set", "train.batch_size=8", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["recipe"] for r in rows] == ["default", "svm"]
    for row in rows:  # trained on the 60 scans, scored on the whole held-out half
        assert (row["n_train"], row["n_test"]) == (60, 899) and 0 <= row["top1"] <= 1
    assert rows[0]["arch"] == "resnet18" and rows[0]["epochs"] == 1
    table = capsys.readouterr().out
    assert "| digits@60 | default | resnet18 | 1 |" in table and "| digits@60 | svm | — | 1 |" in table


@pytest.mark.parametrize("smoke", [False, True], ids=["gpu", "cpu-smoke"])
def test_every_step_of_the_device_check_is_a_command_that_parses(smoke, tmp_path):
    """The GPU check cannot run here; what can break it unseen is a step whose flags or test file no
    longer exist. Each step's command line goes through its own parser."""
    parsers = {"benchmarks.run": run.parser(), "benchmarks.input_bench": input_bench.parser()}
    steps = device_check.plan(tmp_path, smoke)
    assert [s.name for s in steps] == ["device", "parity", "run", "e2e"]
    assert sum(s.limit_s for s in steps) <= 8 * 60
    for step in steps[2:]:
        module, argv = step.argv[1], list(step.argv[2:])
        parsers[module].parse_args(argv)  # exits 2 on an unknown flag
    parity = list(steps[1].argv)
    assert parity[:4] == ["-m", "benchmarks.device_check", "--parity-on", "cpu" if smoke else "cuda"]
    assert (pathlib.Path(device_check.REPO) / device_check.PARITY_TESTS).is_file()
    assert parity[parity.index("--platform") + 1] == ("cpu" if smoke else "cuda")
    printed = device_check.main(["--out", str(tmp_path), "--dry-run", *(["--cpu-smoke"] if smoke else [])])
    assert printed == 0 and not any(tmp_path.iterdir())


def test_the_pytorch_face_transform_moves_the_points_with_the_pixels(tmp_path):
    """The PyTorch column's face sample is the recipe written as a torchvision user would; its
    keypoints must land where its pixels went, or the comparison would time a wrong transform."""
    torch = pytest.importorskip("torch")
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 300))
    ImageDraw.Draw(image).rectangle((198, 148, 202, 152), fill=(255, 255, 255))  # a dot at (200, 150)
    image.save(tmp_path / "dot.png")
    item = {"path": str(tmp_path / "dot.png"), "box": [150, 100, 250, 200], "keypoints": [[200.0, 150.0]]}
    for seed in range(4):
        sample = input_bench.torch_face_sample(item, np.random.default_rng(seed))
        pixels = sample["image"][0].numpy()
        assert sample["image"].dtype == torch.float32 and pixels.shape == (224, 224)
        ys, xs = np.nonzero(pixels > (pixels.max() + pixels.min()) / 2)
        dot = [xs.mean() + 0.5, ys.mean() + 0.5]  # pixel i covers [i, i + 1)
        np.testing.assert_allclose(sample["keypoints"][0] * 224, dot, atol=1.5)
