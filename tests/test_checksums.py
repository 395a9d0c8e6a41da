"""Nothing damaged is ever used: checkpoint steps, frame-cache rows and exported files carry a
checksum written with them and checked when read; damage that keeps every file's size is caught,
and a row that stays damaged when decoded again is named.

The checkpoint cases work on copies of the shared tiny bbox training (cli_helpers.trained), in this
process; none trains.
"""

from __future__ import annotations

import pathlib
import shutil

import numpy as np
import pytest

import bad_inputs as B
from cli_helpers import TINY, run, trained, use_session_cache
from jaxres import models
from jaxres.data import frame_cache
from jaxres.errors import DataError
from jaxres.export import artifacts as export
from jaxres.platform import files
from jaxres.cli.commands.resume import damaged_resume as _damaged_resume
from jaxres.errors import UserError
from jaxres.train.checkpoint import DIGEST_FILE, verify
from jaxres.train.loop import NonFiniteLoss
from test_bad_input_corpus import refused_cleanly  # noqa: F401 - the corpus's fixture
from test_frame_cache import all_pixels, build, write_images


def _two_steps(tmp_path, tmp_path_factory) -> pathlib.Path:
    """A copy of the tiny bbox workdir whose one step (4) also sits at step 2, an older intact one."""
    workdir = tmp_path / "work"
    shutil.copytree(trained("bbox", tmp_path_factory).workdir, workdir)
    shutil.copytree(workdir / "checkpoints" / "4", workdir / "checkpoints" / "2")
    return workdir


def _overwrite_inside(step: pathlib.Path) -> pathlib.Path:
    """4 KB overwritten in the middle of the step's largest array file: every size stays the same."""
    path = max((p for p in (step / "state").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = bytes(4096)
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_step_is_named_and_eval_uses_the_intact_one_before_it(tmp_path, tmp_path_factory):
    workdir = _two_steps(tmp_path, tmp_path_factory)
    damaged = _overwrite_inside(workdir / "checkpoints" / "4")
    assert verify(workdir / "checkpoints" / "2") is None
    assert "differs from its checksum" in verify(workdir / "checkpoints" / "4")
    result = run("bbox", ["eval", "--workdir", workdir])
    assert result.rc == 0, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "checkpoints/4" in lines[0] and damaged.name in lines[0] and "step 2" in lines[0], lines
    assert "mean_iou" in result.last_json()


def test_a_resume_sets_a_damaged_step_aside_and_continues_from_the_intact_one(tmp_path, tmp_path_factory):
    workdir = _two_steps(tmp_path, tmp_path_factory)
    _overwrite_inside(workdir / "checkpoints" / "4")
    result = run("bbox", ["train", "--workdir", workdir])
    assert result.rc == 0, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "step 4 is damaged" in lines[0] and "resuming from step 2" in lines[0], lines
    assert (workdir / "checkpoints" / "4.damaged").is_dir() and "resuming from step 2" not in result.out
    assert "nothing to train: the checkpoint at step 2" in result.out, result.out


def test_a_damaged_step_without_a_digest_is_one_line_without_orbax_noise(tmp_path, tmp_path_factory, refused_cleanly):
    """Steps written before digests existed: orbax's read fails, and only our line reaches stderr."""
    workdir = _two_steps(tmp_path, tmp_path_factory)
    for step in ("2", "4"):  # without a digest only orbax can notice: every state file cut to a third
        (workdir / "checkpoints" / step / DIGEST_FILE).unlink()
        for path in (workdir / "checkpoints" / step / "state").rglob("*"):
            if path.is_file():
                path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    refused_cleanly("bbox", ["eval", "--workdir", workdir], ["every checkpoint is damaged", "checkpoints/4"],
                    workdir, tmp_path / "none", B.digests(workdir))


def test_a_non_finite_loss_right_after_a_resume_blames_the_checkpoint(tmp_path):
    err = NonFiniteLoss(step=9, epoch=2, last_good=8, directory=tmp_path / "checkpoints")
    message = str(_damaged_resume(err, resumed=8))
    assert "right after resuming from step 8" in message and "may be damaged" in message and "optim.lr" not in message
    assert _damaged_resume(err, resumed=None) is None  # a fresh run: the learning rate is the usual cause
    later = NonFiniteLoss(step=30, epoch=4, last_good=24, directory=tmp_path / "checkpoints")
    assert _damaged_resume(later, resumed=8) is None  # the resumed run saved since: not the checkpoint


def test_a_damaged_cache_row_is_decoded_again(tmp_path):
    records = write_images(tmp_path / "images", 12)
    first, decoded = build(records, tmp_path / "cache")
    expected = all_pixels(first)
    assert decoded == 12
    segment = next((tmp_path / "cache").rglob("seg-*.bin"))
    data = bytearray(segment.read_bytes())
    data[: len(data) // 2] = bytes(len(data) // 2)  # half of the segment zeroed, its size unchanged
    segment.write_bytes(bytes(data))
    again, decoded = build(records, tmp_path / "cache")
    assert 0 < decoded <= 12
    np.testing.assert_array_equal(all_pixels(again), expected)
    _, decoded = build(records, tmp_path / "cache")
    assert decoded == 0  # the fresh copies are used from now on


def test_an_exported_file_carries_its_checksum(tmp_path):
    path = files.write_chunks(tmp_path / "model.safetensors", [b"weights" * 100], checksum=True)
    assert files.check_checksum(path)
    assert files.checksum_path(path).read_text().endswith("  model.safetensors\n")  # sha256sum -c reads it
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match its checksum"):
        files.check_checksum(path)


def test_a_cache_row_still_damaged_after_decoding_it_again_names_the_record(tmp_path, monkeypatch):
    records = write_images(tmp_path / "images", 3)
    garbled = np.random.default_rng(0)  # a disk that garbles every write: no row ever matches its checksum
    monkeypatch.setattr(frame_cache, "_checksum", lambda row: garbled.integers(0, 256, 16, dtype=np.uint8))
    with pytest.raises(DataError, match="still damaged after decoding it again") as err:
        build(records, tmp_path / "cache")
    assert str(err.value).startswith(f"{records[0].source}: ") and "\n" not in str(err.value)


def _flip_a_byte(path: pathlib.Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def test_exports_carry_a_checksum_that_reading_them_back_checks(tmp_path):
    model = models.create("resnet18", num_outputs=3)
    variables = models.init(model, 0, image_size=32)
    hlo = export.export("stablehlo", model, variables, tmp_path / "m.hlo", image_size=32)
    flat = export.export("safetensors", model, variables, tmp_path / "m.safetensors")
    pth = export.export("torchvision", model, variables, tmp_path / "m.pth")
    assert all(files.check_checksum(p) for p in (hlo, flat, pth))  # `train --weights m.pth` checks it
    for path, read in ((hlo, export.load_stablehlo), (flat, export.load_safetensors_variables)):
        read(path)
        _flip_a_byte(path)
        with pytest.raises(UserError, match="does not match its checksum") as err:
            read(path)
        assert str(err.value).startswith(f"{path}: ")


def test_training_from_a_damaged_weights_file_is_refused(tmp_path, monkeypatch, tmp_path_factory, refused_cleanly):
    user = B.box_folder(tmp_path / "user")
    path = files.write_chunks(user / "w.safetensors", [b"\x00" * 256], checksum=True)
    path.write_bytes(b"\x01" * 256)
    argv = ["train", "--data", user, "--workdir", tmp_path / "run", *TINY, "--weights", path]
    refused_cleanly("bbox", argv, ["w.safetensors", "checksum"], user, tmp_path / "run", B.digests(user))


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path_factory):
    use_session_cache(monkeypatch, tmp_path_factory)
