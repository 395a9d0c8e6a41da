"""Checkpoints: exact resume after a stop at any step, NaN never saved, one run per workdir,
shape changes refused, last-k-plus-best retention."""

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import train_helpers as H
from jaxres.errors import ConfigError, UserError
from jaxres.train import loop, steps
from jaxres.train.checkpoint import Checkpoints, config_diff
from jaxres.train.workdir import WorkdirLock
from jaxres.train.state import TrainState


def sigterm_at(epoch, batch):
    """A batch hook that sends this process SIGTERM when batch (epoch, batch) is requested."""

    def hook(e, b):
        if (e, b) == (epoch, batch):
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def test_stopped_and_resumed_run_is_bit_identical(tmp_path):
    _, reference, _ = H.reference_run()
    first = H.fit_run(tmp_path, on_batch=sigterm_at(0, 1))  # mid-epoch: stops after step 2
    assert isinstance(first, loop.Preempted) and first.step == 2 and first.position["batch"] == 2
    assert "resume" in first.message and first.signal == "SIGTERM"
    second = H.fit_run(tmp_path, on_batch=sigterm_at(0, 2))  # last batch: evaluates, saves, stops
    assert isinstance(second, loop.Preempted) and second.step == 3 and second.position["epoch"] == 1
    final = H.fit_run(tmp_path)
    assert isinstance(final, loop.Completed) and final.step == reference.step == H.SPE * H.EPOCHS
    assert H.tree_equal(final.state, reference.state)  # params, BN stats, optimizer state, RNG, step
    assert final.best_step == reference.best_step == H.SPE  # top1 0.7 after epoch 1


def test_reference_run_keeps_last_and_best(tmp_path):
    workdir, reference, output = H.reference_run()
    checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"), best_metric="top1")
    assert checkpoints.all_steps() == [3, 6] and checkpoints.best_step() == 3
    assert checkpoints.read_json(6, "position")["epoch"] == H.EPOCHS
    assert checkpoints.read_json(3, "metrics")["top1"] == 0.7
    assert checkpoints.read_json(6, "config") == loop_jsonable(H.RUN_CONFIG)
    checkpoints.close()
    assert "epoch 2/2" in output


def loop_jsonable(config):
    from jaxres.train.checkpoint import jsonable

    return jsonable(config)


def poisoned_loss(outputs, batch):
    return H.cross_entropy(outputs, batch) + jnp.sum(batch["poison"])


def test_nonfinite_loss_stops_and_is_never_saved(tmp_path):
    model, _ = H.model_and_variables()
    opt = H.optimizer("staged", H.SPE, H.EPOCHS)
    step = steps.make_train_step(model, poisoned_loss, opt.tx, mesh=H.mesh())
    data = H.dataset(H.SPE * H.BATCH)
    data["poison"] = np.zeros(len(data["label"]), np.float32)
    clean = H.batch_source(data, H.BATCH, H.mesh())
    poisoned = {**data, "poison": np.full_like(data["poison"], np.nan)}

    def batches(epoch, start):  # the third batch carries a NaN
        for i, batch in enumerate(clean(epoch, start), start=start):
            yield H.parallel.shard_batch({**{k: v[:H.BATCH] for k, v in poisoned.items()}}, H.mesh()) if i == 2 else batch

    config = {**H.RUN_CONFIG, "checkpoint": {"keep": 5, "every_steps": 1, "best_metric": "top1"},
              "train": {**H.RUN_CONFIG["train"], "log_every": 3}}
    with pytest.raises(loop.NonFiniteLoss) as err:
        loop.fit(H.fresh_state(), step, batches, steps_per_epoch=H.SPE, config=config, workdir=tmp_path,
                 frozen_at_epoch=opt.frozen_at_epoch, stream=open(os.devnull, "w"))
    assert err.value.step == 3 and err.value.last_good == 2
    assert "step 3" in str(err.value) and "step 2" in str(err.value)
    checkpoints = Checkpoints(tmp_path / "checkpoints", best_metric="top1")
    assert checkpoints.all_steps() == [1, 2] and checkpoints.latest_step() == 2
    checkpoints.close()


def toy_state(value=1.0, step=0, out=2):
    params = {"fc": {"kernel": jnp.full((3, out), value), "bias": jnp.zeros(out)}}
    return TrainState(step=jnp.asarray(step, jnp.int32), params=params, batch_stats={},
                      opt_state=(), rng=jnp.zeros(2, jnp.uint32))


def test_nan_state_is_refused_and_best_is_kept(tmp_path):
    checkpoints = Checkpoints(tmp_path, keep=2, best_metric="loss", best_mode="min")
    for step, loss in enumerate([0.9, 0.2, 0.5, 0.6, 0.7], start=1):
        assert checkpoints.save(toy_state(step=step), position={"epoch": step, "batch": 0}, config={},
                                metrics={"loss": loss})
    assert not checkpoints.save(toy_state(np.nan, step=6), position={}, config={}, metrics={"loss": 0.0})
    checkpoints.wait()
    assert checkpoints.all_steps() == [2, 4, 5] and checkpoints.best_step() == 2 and checkpoints.latest_step() == 5
    restored = checkpoints.restore(toy_state())
    assert restored.step == 5 and restored.position == {"epoch": 5, "batch": 0} and restored.metrics["loss"] == 0.7
    checkpoints.close()


def test_changed_model_shape_is_refused_with_the_keys_named(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(toy_state(), position={"epoch": 1, "batch": 0}, config={"model": {"num_outputs": 2}}, wait=True)
    with pytest.raises(ConfigError, match=r"model\.num_outputs.*fc/kernel") as err:
        checkpoints.restore(toy_state(out=3), config={"model": {"num_outputs": 3}})
    assert str(tmp_path) in str(err.value)
    checkpoints.close()
    assert config_diff({"a": {"b": 1, "c": [1, 2]}}, {"a": {"b": 2, "c": (1, 2)}, "d": 0}) == ["a.b", "d"]


def test_resume_with_another_head_is_refused(tmp_path):
    workdir, _, _ = H.reference_run()
    variables = jax.tree.map(np.asarray, H.model_and_variables()[1])
    variables["params"]["fc"] = {"kernel": np.zeros((512, 5), np.float32), "bias": np.zeros(5, np.float32)}
    config = {**H.RUN_CONFIG, "model": {"arch": "resnet18", "num_outputs": 5}}
    with pytest.raises(ConfigError, match="model.num_outputs"):
        H.fit_run(workdir, state=H.fresh_state(variables), config=config)


def test_second_training_in_a_workdir_is_refused(tmp_path):
    with WorkdirLock(tmp_path):
        with pytest.raises(UserError, match="another training"):
            H.fit_run(tmp_path)
    with WorkdirLock(tmp_path):  # released again
        pass
