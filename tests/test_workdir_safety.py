"""Nothing a user trained is lost: a workdir remembers its run, only that run rotates its checkpoints,
and anything that is not a workdir (or a change that makes another run) is refused with one line
before a file is touched. Also the last exit-1 cases and weak checks of the bad-input corpus.

Refusals run in this process on copies of the shared tiny trainings (cli_helpers.trained); the one
resume that trains runs one epoch of that tiny bbox model.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shlex
import shutil
import unicodedata

import numpy as np
import pytest

import bad_inputs as B
from cli_helpers import SYNTHETIC, TINY, run, task, trained, use_session_cache
from jaxres.cli.entry import parse
from jaxres.cli.commands.resume import resume_command
from jaxres.cli.commands.splits import train_val_split
from jaxres.cli.commands.train import build_config
from jaxres.data.consistency import hold_out
from jaxres.data.readers.folders import read_class_folders
from jaxres.data.records import Record
from jaxres.errors import UserError
from jaxres.train import checkpoint
from jaxres.train.checkpoint import seal
from test_bad_input_corpus import _without_lock, refused_cleanly  # noqa: F401 - the corpus's fixture


def _copy(name, tmp_path, tmp_path_factory):
    workdir = tmp_path / "work"
    shutil.copytree(trained(name, tmp_path_factory).workdir, workdir)
    return workdir


def _refused_on(refused_cleanly, name, workdir, argv, names, user):
    """The refusal checks, and the workdir byte for byte as it was."""
    kept = _without_lock(B.digests(workdir))
    refused_cleanly(name, argv, [str(n) for n in names], user, user / "none", B.digests(user) if user.exists() else {})
    assert _without_lock(B.digests(workdir)) == kept


# 1. a workdir remembers its run --------------------------------------------------------------------

def test_the_printed_hint_resumes_the_same_run_from_any_folder(tmp_path, tmp_path_factory, monkeypatch):
    workdir = _copy("bbox", tmp_path, tmp_path_factory)
    before = json.loads((workdir / "config.json").read_text())
    hint = resume_command(task("bbox"), workdir)
    assert hint == f"jaxres bbox train --workdir {shlex.quote(str(workdir))}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    argv = shlex.split(hint)[2:] + ["--epochs", "2"]  # the hint, asked for one more epoch
    result = run("bbox", argv)
    assert result.rc == 0, result.err
    assert "resuming from step 4: epoch 2, batch 0" in result.out, result.out
    after = json.loads((workdir / "config.json").read_text())
    assert after["data"] == before["data"] and after["synthetic"] == before["synthetic"]
    assert after["model"] == before["model"] and after["train"]["epochs"] == 2
    steps = [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").read_text().splitlines()
             if json.loads(line).get("split") == "train"]
    assert steps[-1] == 8 and sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["4", "8"]


def test_data_path_is_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = parse(task("bbox"), ["train", "--data", "boxes", "--workdir", "w"])
    assert build_config(task("bbox"), args)["data"]["path"] == str(tmp_path / "boxes")
    args = parse(task("bbox"), ["train", "--set", "data.path='~/boxes'"])
    assert build_config(task("bbox"), args)["data"]["path"] == os.path.expanduser("~/boxes")


@pytest.mark.parametrize("argv, names", [
    (["--set", "model.arch=resnet34"], ["model.arch", "resnet34"]),
    (["--set", "objective.image_size=48"], ["objective.image_size", "48"]),
    (["--data", "{user}"], ["data.path", "null there"]),
    (["--set", "synthetic.generator.n_train=40"], ["synthetic.generator"]),
])
def test_a_change_that_makes_another_run_is_refused(argv, names, tmp_path, tmp_path_factory, refused_cleanly):
    user = B.box_folder(tmp_path / "user")
    workdir = _copy("bbox", tmp_path, tmp_path_factory)
    fill = lambda a: str(a).format(user=user)  # noqa: E731
    _refused_on(refused_cleanly, "bbox", workdir, ["train", "--workdir", workdir, *TINY, *map(fill, argv)],
                [*map(fill, names), "jaxres bbox train --workdir"], user)


def test_cache_on_a_workdir_prepares_that_runs_frames(tmp_path, tmp_path_factory, refused_cleanly):
    """`cache --workdir W` reads W's run (32 synthetic training records at 32 px), not the task's
    defaults (320 at 128 px), and refuses what `train --workdir W` refuses; W is only read."""
    workdir = _copy("bbox", tmp_path, tmp_path_factory)
    kept = _without_lock(B.digests(workdir))
    result = run("bbox", ["cache", "--workdir", workdir])
    assert result.rc == 0, result.err
    assert "train: 32 frames" in result.out and "decoded" not in result.out, result.out  # the run's, cached
    assert _without_lock(B.digests(workdir)) == kept
    user = B.box_folder(tmp_path / "user")
    _refused_on(refused_cleanly, "bbox", workdir, ["cache", "--workdir", workdir, "--set", "objective.image_size=48"],
                ["objective.image_size", "48"], user)


def test_a_val_file_repeating_training_rows_is_named_in_one_warning(tmp_path, capsys):
    """A warning, not a refusal: a data set's own split is its benchmark, kept as it ships."""
    user = B.box_folder(tmp_path / "user")
    train_rows = (user / "train.csv").read_text().splitlines()
    val = (user / "val.csv").read_text().splitlines()
    val[2] = train_rows[5]  # val.csv:3 repeats train.csv:6
    (user / "val.csv").write_text("\n".join(val) + "\n")
    bbox = task("bbox")
    train, held = train_val_split(bbox, user, build_config(bbox, parse(bbox, ["train", "--data", str(user)])))
    assert len(train) == 10 and len(held) == 3  # the split is kept as it ships
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "val.csv:3 = " in lines[0] and "train.csv:6" in lines[0] and "1 val record" in lines[0]


def test_data_that_now_has_another_point_count_is_refused(tmp_path, tmp_path_factory, refused_cleanly):
    """The same data.path, but its files changed: the facts the data decides are compared too."""
    user = B.tree_300w(tmp_path / "user", k=19)
    workdir = _copy("face", tmp_path, tmp_path_factory)
    config = json.loads((workdir / "config.json").read_text())
    config["data"]["path"] = str(user)
    config["objective"]["flip_map"] = None  # else the 68-point flip map refuses 19 points first
    (workdir / "config.json").write_text(json.dumps(config))
    _refused_on(refused_cleanly, "face", workdir, ["train", "--workdir", workdir], ["num_keypoints", "68", "19"], user)


def test_a_split_that_shrank_under_a_mid_epoch_checkpoint_is_refused(tmp_path, tmp_path_factory, refused_cleanly):
    workdir = _copy("bbox", tmp_path, tmp_path_factory)
    step = workdir / "checkpoints" / "4"
    (step / "position" / "metadata").write_text(json.dumps({"epoch": 0, "batch": 3, "loss_sum": 0.0, "loss_steps": 0}))
    seal(step)  # as if saved there (a stop after batch 3)
    user = tmp_path / "user"
    _refused_on(refused_cleanly, "bbox", workdir, ["train", "--workdir", workdir, "--batch-size", "16"],
                ["step 4", "batch 3", "2 batches"], user)


def test_a_workdir_of_another_task_is_refused(tmp_path, tmp_path_factory, refused_cleanly):
    workdir = _copy("bbox", tmp_path, tmp_path_factory)
    _refused_on(refused_cleanly, "face", workdir, ["train", "--workdir", workdir, *TINY, *SYNTHETIC],
                ["bbox training", "jaxres bbox train"], tmp_path / "user")


# 4. what a workdir is ----------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["train", "eval"])
@pytest.mark.parametrize("config", ['{"model": {"arch": "resnet18"}}', "[1, 2]"])
def test_a_folder_that_is_not_a_workdir_is_refused_untouched(command, config, tmp_path, refused_cleanly):
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.json").write_text(config)
    (user / "notes.txt").write_text("mine\n")
    if config.startswith("["):
        (user / "checkpoints").mkdir()  # looks like an older workdir but for its config
    argv = [command, "--workdir", user, *(TINY if command == "train" else [])]
    refused_cleanly("bbox", argv, [str(user), "not a jaxres workdir"], user, tmp_path / "none",
                    B.digests(user))


# 3. every file of a workdir guarded the same way ------------------------------------------------

@pytest.mark.parametrize("content", [b"{}", b"\x89PNG\x00\xff\xfe binary", b'{"target": {}, "model": {}}'])
def test_a_broken_data_facts_file_is_refused(content, tmp_path, tmp_path_factory, refused_cleanly):
    workdir = _copy("bbox", tmp_path, tmp_path_factory)
    (workdir / "data_facts.json").write_bytes(content)
    _refused_on(refused_cleanly, "bbox", workdir, ["eval", "--workdir", workdir], ["data_facts.json"], tmp_path / "u")


def test_export_never_overwrites_data_facts(tmp_path, tmp_path_factory, refused_cleanly):
    workdir = _copy("bbox", tmp_path, tmp_path_factory)
    argv = ["export", "--workdir", workdir, "--format", "safetensors", "--force", "--out", workdir / "data_facts.json"]
    _refused_on(refused_cleanly, "bbox", workdir, argv, ["data_facts.json", "workdir"], tmp_path / "u")


def test_an_older_workdir_without_data_facts_evaluates(tmp_path, tmp_path_factory):
    """Before data_facts.json, config.json held the facts (model.resolved, objective.num_keypoints)
    and there was no marker."""
    workdir = _copy("face", tmp_path, tmp_path_factory)
    facts = json.loads((workdir / "data_facts.json").read_text())
    config = json.loads((workdir / "config.json").read_text())
    config["model"]["resolved"] = facts["model"]
    config["objective"]["num_keypoints"] = facts["target"]["num_keypoints"]
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "data_facts.json").unlink()
    (workdir / ".jaxres-workdir").unlink()
    result = run("face", ["eval", "--workdir", workdir])
    assert result.rc == 0, result.err
    assert "nme_io" in result.last_json()


# 5. the last exit-1 cases ----------------------------------------------------------------------

def test_a_disk_that_fills_during_a_save_is_one_line(tmp_path, tmp_path_factory, monkeypatch):
    """ENOSPC faked where a save writes its last file (the step's digest, after orbax's async commit)."""
    workdir = _copy("bbox", tmp_path, tmp_path_factory)

    def full(folder):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / checkpoint.DIGEST_FILE))

    monkeypatch.setattr(checkpoint, "seal", full)
    result = run("bbox", ["train", "--workdir", workdir, "--epochs", "2"])
    lines = result.err.strip().splitlines()
    assert result.rc == 2 and len(lines) == 1, result.err[-3000:]
    assert str(workdir / "checkpoints") in lines[0] and ("disk is full" in lines[0] or "No space" in lines[0])


def test_objective_channels_takes_one_or_three(tmp_path, refused_cleanly):
    argv = ["train", "--workdir", tmp_path / "run", *TINY, "--set", "objective.channels=2"]
    refused_cleanly("bbox", argv, ["objective.channels", "1, 3"], tmp_path / "user", tmp_path / "run", {})


def test_an_offline_hub_download_is_one_line(tmp_path, monkeypatch, refused_cleanly):
    """What the hub client logs while it retries stays off stderr; its failure is the one line."""
    from jaxres.weights import named

    def offline(choice, arch):
        for attempt in range(3):
            logging.getLogger("huggingface_hub.utils._http").warning("Retrying in %ds [Retry %d/5].", 2**attempt, attempt)
        raise UserError("cannot get model.safetensors from the Hugging Face Hub", where=choice)

    monkeypatch.setattr(named, "fetch", offline)
    monkeypatch.setattr(named, "cached_path", lambda choice, arch: None)
    user = B.box_folder(tmp_path / "user")
    argv = ["train", "--data", user, "--workdir", tmp_path / "run", *TINY, "--weights", "hf-hub:timm/resnet18.a1_in1k"]
    refused_cleanly("bbox", argv, ["hf-hub:timm/resnet18.a1_in1k", "Hugging Face"], user, tmp_path / "run",
                    B.digests(user))


# 6. still weak since last week -----------------------------------------------------------------

def test_duplicate_rows_stay_on_one_side_of_the_held_out_split():
    records = [Record(f"/d/img{i % 9}.png", f"a.csv:{i + 2}") for i in range(40)]
    train, val = hold_out(records, 0.1, 0)
    assert val and not {records[i].image for i in train} & {records[i].image for i in val}
    arrays = [Record(np.full((2, 2), i % 5, np.uint8), f"h5:{i}") for i in range(30)]
    train, val = hold_out(arrays, 0.2, 1)
    assert not {int(arrays[i].image[0, 0]) for i in train} & {int(arrays[i].image[0, 0]) for i in val}
    distinct = [Record(f"/d/{i}.png", "s") for i in range(50)]
    assert len(hold_out(distinct, 0.1, 0)[1]) == 5


def test_a_box_outside_its_image_is_refused(tmp_path, refused_cleanly):
    user = B.box_folder(tmp_path / "user")
    path = user / "train.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 4)[0] + ",33,33,4,4"  # (33, 33)-(37, 37) on a 32x32 image
    path.write_text("\n".join(lines) + "\n")
    argv = ["train", "--data", user, "--workdir", tmp_path / "run", *TINY]
    refused_cleanly("bbox", argv, ["train.csv:4", "does not overlap"], user, tmp_path / "run", B.digests(user))


def test_an_empty_class_folder_is_refused(tmp_path, refused_cleanly):
    user = B.class_folders(tmp_path / "user", {s: ["cat", "dog"] for s in ("train", "val", "test")})
    (user / "train" / "owl").mkdir()
    argv = ["train", "--data", user, "--workdir", tmp_path / "run", *TINY]
    refused_cleanly("sketch", argv, [str(user / "train" / "owl"), "no images"], user, tmp_path / "run",
                    B.digests(user))


def test_class_names_differing_only_in_normalisation_are_one_class_or_refused(tmp_path):
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    root = B.class_folders(tmp_path / "data", {"train": [nfc, "tea"], "val": [nfd, "tea"]})
    assert read_class_folders(root, "train").classes == read_class_folders(root, "val").classes == (nfc, "tea")
    B.png(root / "train" / nfd / "x.png")
    with pytest.raises(UserError, match="Unicode normalisation"):
        read_class_folders(root, "train")


def test_a_typo_in_best_metric_names_the_metrics(tmp_path, refused_cleanly):
    user = B.box_folder(tmp_path / "user")
    argv = ["train", "--data", user, "--workdir", tmp_path / "run", *TINY, "--set", "checkpoint.best_metric=mean_iuo"]
    refused_cleanly("bbox", argv, ["checkpoint.best_metric", "mean_iuo", "mean_iou", "iou@0.5"], user,
                    tmp_path / "run", B.digests(user))


def test_a_config_returning_an_empty_dict_is_blamed_on_the_file(tmp_path, refused_cleanly):
    user = tmp_path / "user"
    user.mkdir()
    path = user / "cfg.py"
    path.write_text("def get_config():\n    return {}\n")
    argv = ["train", "--workdir", tmp_path / "run", "--config", path, *TINY]
    refused_cleanly("bbox", argv, ["cfg.py", "model.arch"], user, tmp_path / "run", B.digests(user))


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path_factory):
    use_session_cache(monkeypatch, tmp_path_factory)
