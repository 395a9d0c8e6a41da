"""The two data paths through the command line: the frame cache prepared ahead by `cache` and reused
by `train`, and `data.pipeline=host` still training and evaluating like the device path."""

from __future__ import annotations

import pytest

import cli_helpers as C


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


def test_host_pipeline_still_trains_and_evaluates(cache_root, tmp_path):
    result = C.run("face", ["train", "--workdir", tmp_path / "run", *C.TINY, *C.SYNTHETIC,
                            "--set", "data.pipeline=host"])
    assert result.rc == 0, result.err
    assert not (cache_root / "frames").exists()  # nothing cached on the host path
    metrics = result.last_json()
    assert metrics["n"] > 0 and metrics["nme_io"] > 0


def test_an_unknown_pipeline_is_refused_naming_the_key(cache_root, tmp_path):
    result = C.run("signs", ["train", "--workdir", tmp_path / "run", *C.TINY, "--set", "data.pipeline=gpu"])
    assert result.rc == 2
    assert "data.pipeline" in result.err


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
