"""The data path through the command line: the frame cache prepared ahead by `cache` and reused by
`train`; a workdir from when `data.pipeline` chose between two paths still evaluates."""

from __future__ import annotations

import json

import pytest

import cli_helpers as C
from jaxres.config import defaults


@pytest.fixture
def cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXRES_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_prepares_every_split_and_train_decodes_nothing_more(cache_root, tmp_path):
    settings = [*C.TINY, *C.SYNTHETIC]
    prepared = C.run("bbox", ["cache", *settings])
    assert prepared.rc == 0, prepared.err
    assert "records decoded" in prepared.out and "test:" in prepared.out
    frames = list((cache_root / "frames").rglob("*.bin"))
    assert frames, "cache wrote no segment"
    trained = C.run("bbox", ["train", "--workdir", tmp_path / "run", *settings])
    assert trained.rc == 0, trained.err
    assert "records decoded" not in trained.out  # every split came from the cache
    assert sorted((cache_root / "frames").rglob("*.bin")) == sorted(frames)
    assert trained.last_json()["mean_iou"] >= 0.0

    # a workdir written when data.pipeline existed ("host" or "device") evaluates as before
    config_file = tmp_path / "run" / "config.json"
    config = json.loads(config_file.read_text())
    config["data"]["pipeline"] = "host"
    config_file.write_text(json.dumps(config))
    evaluated = C.run("bbox", ["eval", "--workdir", tmp_path / "run"])
    assert evaluated.rc == 0, evaluated.err
    assert evaluated.last_json()["mean_iou"] == pytest.approx(trained.last_json()["mean_iou"], rel=1e-5)


def test_the_retired_pipeline_key_is_dropped_where_a_config_is_read_and_refused_on_the_command_line(tmp_path):
    old = {"model": {"arch": "resnet18"}, "objective": {"kind": "box"}, "data": {"pipeline": "host", "workers": 2}}
    completed = defaults.complete(old)
    assert "pipeline" not in completed["data"] and completed["data"]["workers"] == 2
    assert old["data"]["pipeline"] == "host"  # the caller's dict is left as it was
    result = C.run("signs", ["train", "--workdir", tmp_path / "run", *C.TINY, "--set", "data.pipeline=host"])
    assert result.rc == 2
    assert "data.pipeline" in result.err and len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("setting, named", [("data.cache_dir={file}", "{file}"), ("data.cache_dir={file}/sub", "{file}/sub"),
                                            ("data.cache_dir=5", "data.cache_dir")])
def test_a_frame_cache_folder_that_cannot_be_one_is_one_line(cache_root, tmp_path, setting, named):
    file = tmp_path / "a_file"
    file.write_text("mine")
    result = C.run("signs", ["train", "--workdir", tmp_path / "run", *C.TINY, *C.SYNTHETIC,
                             "--set", setting.format(file=file)])
    assert result.rc == 2, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and named.format(file=file) in lines[0]
    assert file.read_text() == "mine" and not (tmp_path / "run" / "checkpoints").exists()
