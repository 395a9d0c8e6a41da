"""The loop's outputs (metrics.jsonl, progress, curves, result), mixed precision, evaluation,
signals and the compilation cache."""

import io
import json
import os
import pathlib
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import train_helpers as H
from jaxres import models, viz
from jaxres.train import cache, loop, steps
from jaxres.train import state as state_lib
from jaxres.train.progress import MetricsLog, Progress
from jaxres.train.signals import StopRequest


def test_metrics_jsonl_history_and_curves():
    workdir, result, output = H.reference_run()
    records = [json.loads(line) for line in pathlib.Path(workdir, "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"]
    assert [r["step"] for r in train] == [2, 3, 5, 6] and [r["epoch"] for r in train] == [1, 1, 2, 2]
    assert all(np.isfinite(r["loss"]) and r["lr"] > 0 and "images_per_s" in r for r in train)
    assert val == [{"step": 3, "epoch": 1, "split": "val", "top1": 0.7}, {"step": 6, "epoch": 2, "split": "val", "top1": 0.4}]
    assert result.history == records and result.best_step == 3 and result.position == {
        "epoch": 2, "batch": 0, "loss_sum": 0.0, "loss_steps": 0}
    assert "epoch 1 eval: top1 0.7, train_loss " in output
    charts = viz.curve_series(records)
    assert set(charts) == {"loss", "metrics"} and charts["metrics"]["val top1"] == [(3, 0.7), (6, 0.4)]


def test_a_finished_run_is_not_trained_again():
    workdir, reference, _ = H.reference_run()
    before = pathlib.Path(workdir, "metrics.jsonl").read_text()
    stream = io.StringIO()
    again = H.fit_run(workdir, stream=stream)
    assert isinstance(again, loop.Completed) and again.step == reference.step
    assert H.tree_equal(again.state.params, reference.state.params)
    assert pathlib.Path(workdir, "metrics.jsonl").read_text() == before
    assert "nothing to train" in stream.getvalue()


def test_fit_hands_back_the_best_steps_variables_in_memory():
    """`train`'s final evaluation uses them instead of reading the best checkpoint back from disk."""
    from jaxres.train.restore import _restore_variables

    workdir, result, _ = H.reference_run()
    assert result.best_step == 3 and result.step == 6  # the best is an earlier epoch, not the last state
    saved = _restore_variables(pathlib.Path(workdir) / "checkpoints" / "3" / "state")
    assert H.tree_equal(result.best_variables, saved)
    assert not H.tree_equal(result.best_variables, result.state.variables())
    again = H.fit_run(workdir, stream=io.StringIO())  # its best step was trained before: only the checkpoint has it
    assert again.best_step == 3 and again.best_variables is None


def test_progress_lines_for_files_and_terminals():
    plain = io.StringIO()
    progress = Progress(0, 3, 10, stream=plain, interactive=False)
    progress.update(4, 0.5, 123.4)
    progress.close("loss 0.5")
    lines = plain.getvalue().splitlines()
    assert lines[0].startswith("epoch 1/3 4/10 loss 0.5000 123.4 img/s ETA ") and "\r" not in plain.getvalue()
    assert lines[1].startswith("epoch 1/3 done in ") and lines[1].endswith("loss 0.5")
    tty = io.StringIO()
    Progress(1, 3, 10, stream=tty, interactive=True).update(5, 0.25, 10.0)
    assert tty.getvalue().startswith("\repoch 2/3 [############............] 5/10 loss 0.2500")


def test_metrics_log_keeps_the_newest_record_of_a_step(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"step": 2, "epoch": 1, "split": "train", "loss": 1.0})
    log.append({"step": 4, "epoch": 1, "split": "train", "loss": 0.8})
    log.append({"step": 4, "epoch": 1, "split": "train", "loss": 0.7})  # repeated after a crash
    log.append({"step": 4, "epoch": 1, "split": "val", "top1": 0.3})
    assert [r.get("loss", r.get("top1")) for r in log.read()] == [1.0, 0.7, 0.3]
    MetricsLog(tmp_path / "off.jsonl", enabled=False).append({"step": 1})
    assert not (tmp_path / "off.jsonl").exists()


def test_bfloat16_compute_keeps_float32_state():
    _, variables = H.model_and_variables()
    model = models.create("resnet18", num_outputs=H.CLASSES, dtype=jnp.bfloat16)
    opt = H.optimizer("staged", H.SPE, H.EPOCHS)
    step = steps.make_train_step(model, H.cross_entropy, opt.tx, mesh=H.mesh())
    state = state_lib.create(variables, opt.tx, 0, H.mesh())
    batch = next(H.batch_source(H.dataset(8), 8, H.mesh())(0, 0))
    state, metrics = step(state, batch, steps.empty_metrics(state.step.sharding), opt.frozen_at_epoch(0))
    floats = [x for x in jax.tree.leaves((state.params, state.batch_stats, state.opt_state)) if jnp.issubdtype(x.dtype, jnp.floating)]
    assert floats and all(x.dtype == jnp.float32 for x in floats)
    assert metrics["loss_sum"].dtype == jnp.float32 and np.isfinite(float(metrics["loss_sum"]))
    assert not H.tree_equal(state.params["fc"], variables["params"]["fc"])


def test_stop_request_records_signals_and_restores_handlers():
    before = signal.getsignal(signal.SIGINT)
    with StopRequest(stream=io.StringIO()) as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested and stop.name == "SIGINT"
        with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C does not wait for the step
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_ctrl_c_waits_for_the_checkpoint_being_written():
    """Interrupting orbax mid-save can hang its writer threads at exit: the save finishes first."""
    events = []
    with StopRequest(stream=io.StringIO()) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            with stop.saving():
                os.kill(os.getpid(), signal.SIGINT)
                events.append("save finished")  # reached: the second Ctrl-C was held
        assert events == ["save finished"]
        with pytest.raises(KeyboardInterrupt):  # outside a save it interrupts at once
            os.kill(os.getpid(), signal.SIGINT)


def test_heap_is_trimmed_when_saves_finish(tmp_path, monkeypatch):
    # an asynchronous save frees its host copies only when written: trimming earlier returns nothing
    from jaxres.platform import host_memory
    from jaxres.train.checkpoint import Checkpoints

    polls, trims = [], []

    def saving(self):
        busy = len(polls) % 3 != 2  # a save takes three polls (steps) to finish
        polls.append(busy)
        return busy

    monkeypatch.setattr(Checkpoints, "saving", saving)
    monkeypatch.setattr(host_memory, "release_freed_memory", lambda: trims.append(len(polls)))
    background = {**H.RUN_CONFIG, "checkpoint": {**H.RUN_CONFIG["checkpoint"], "async": True}}
    H.fit_run(str(tmp_path / "run"), config=background)
    # after each epoch's save starts (what the previous save freed); at the first idle poll after
    # epoch 1's save; and once the run has waited for the last save
    assert polls[:3] == [True, True, False] and trims == [0, 3, len(polls), len(polls)]


def test_checkpoint_async_setting():
    from jaxres.errors import ConfigError

    assert loop.async_saves(None) is (jax.default_backend() != "cpu")  # foreground saves on CPU
    assert loop.async_saves(True) is True and loop.async_saves(False) is False
    with pytest.raises(ConfigError, match="'checkpoint.async' takes true, false or None, got 'yes'"):
        loop.async_saves("yes")


def test_compilation_cache_switch(tmp_path, monkeypatch):
    previous = jax.config.jax_compilation_cache_dir
    try:
        monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "from-env"))
        assert cache.default_cache_dir() == tmp_path / "from-env"
        assert cache.enable_compilation_cache() == tmp_path / "from-env"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "from-env")
        monkeypatch.delenv(cache.ENV_VAR)
        monkeypatch.delenv("JAXRES_CACHE", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        assert cache.default_cache_dir() == tmp_path / "home" / ".cache" / "jaxres" / "xla"
        monkeypatch.setenv("JAXRES_CACHE", str(tmp_path / "root"))
        assert cache.default_cache_dir() == tmp_path / "root" / "xla"
        assert cache.enable_compilation_cache(tmp_path / "explicit").is_dir()
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def test_the_step_compiles_once_per_frozen_set(tmp_path):
    """The loop's accumulator must carry the sharding the step returns, or jit compiles the whole
    step twice for the first frozen set (the first call would see an unplaced accumulator)."""
    model, _ = H.model_and_variables()
    opt = H.optimizer("staged", H.SPE, H.EPOCHS)
    step = steps.make_train_step(model, H.cross_entropy, opt.tx, mesh=H.mesh())
    loop.fit(H.fresh_state(), step, H.batch_source(H.dataset(H.SPE * H.BATCH), H.BATCH, H.mesh()),
             steps_per_epoch=H.SPE, config=H.RUN_CONFIG, workdir=tmp_path, frozen_at_epoch=opt.frozen_at_epoch,
             stream=io.StringIO())
    assert {opt.frozen_at_epoch(0), opt.frozen_at_epoch(1)} == {H.BACKBONE, H.BACKBONE[:4]}
    assert step._cache_size() == 2  # one compilation per frozen set, log intervals included
