"""What a mesh of several devices must not change: the eval step's reduction, drop-path masks, the
device transform's draws, the loader's global batches, and the batch-size checks against the
device and process counts.

These run in tests/multi_device's own pytest process with eight fake CPU devices
(tests/test_multi_device.py starts it); the main suite runs on one device."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import train_helpers as H
from test_cli_errors import train_refused
from test_device_augment import _Frames, _keypoint_objective, _photo
from test_drop_path import nets  # noqa: F401 - the fixture
from test_pipeline import assert_same, loader
from jaxres.data import framed
from jaxres.data.records import Record
from jaxres.train import parallel, steps
from jaxres.train import state as state_lib


def test_there_are_eight_devices():
    assert jax.device_count() == 8 and H.mesh().size == 8


def test_eval_step_reduces_on_device():
    model, variables = H.model_and_variables()
    state = state_lib.create(variables, H.optimizer("staged", H.SPE, H.EPOCHS).tx, 0, H.mesh())

    def predict(outputs, batch):
        return {"logits": outputs, "correct": jnp.sum(jnp.argmax(outputs, -1) == batch["label"])}

    eval_step = steps.make_eval_step(model, predict, mesh=H.mesh())
    data = H.dataset(16)
    out = eval_step(state.variables(), parallel.shard_batch(data, H.mesh()))
    assert out["logits"].shape == (16, H.CLASSES) and len(out["logits"].addressable_shards) == 8
    host = parallel.to_host(out)
    assert int(host["correct"]) == int(np.sum(np.argmax(host["logits"], -1) == data["label"]))


def test_a_batch_split_over_eight_devices_drops_what_one_device_drops(nets):  # noqa: F811
    """Under `jit` with the batch sharded over the data mesh, the key draws the same global mask."""
    _, dropping, variables, _ = nets
    x = jax.random.normal(jax.random.key(2), (8, 32, 32, 3))
    train = jax.jit(lambda v, x: dropping.apply(v, x, train=True, mutable=["batch_stats"],
                                                rngs={"dropout": jax.random.key(3)})[0])
    sharded = parallel.shard_batch({"image": np.asarray(x)}, parallel.make_mesh())["image"]
    assert len(sharded.addressable_shards) == 8
    np.testing.assert_allclose(np.asarray(train(variables, sharded)), np.asarray(train(variables, x)),
                               rtol=1e-4, atol=1e-4)


def test_the_transform_is_the_same_on_one_device_and_on_eight():
    records = [Record(_photo(200, 160, i), f"mem:{i}", keypoints=np.array([[80.0, 70.0], [120.0, 90.0]], np.float32),
                      box=np.array([50, 40, 150, 130], np.float32)) for i in range(8)]
    objective = _keypoint_objective(flip_prob=0.5, jitter=0.3)
    batch = framed.build(objective, records, _Frames(objective, records), train=True).batch(np.arange(8))
    transform = framed.transform(objective, train=True)
    key = jax.random.key(11)
    one = jax.device_get(jax.jit(transform)(batch, key))
    mesh = parallel.make_mesh()
    sharded = parallel.shard_batch(batch, mesh)
    eight = jax.device_get(jax.jit(transform, out_shardings=parallel.batch_sharding(mesh))(sharded, key))
    # the same draws; XLA may fuse the sharded program differently, so floats agree to rounding
    np.testing.assert_allclose(one["keypoints"], eight["keypoints"], atol=1e-6)
    np.testing.assert_allclose(one["image"], eight["image"], atol=1e-4)


def test_batch_size_the_devices_do_not_divide(tmp_path):
    train_refused("face", tmp_path, ["--batch-size", "9"], "train.batch_size")


def test_sharded_batches_are_global_arrays():
    mesh = Mesh(np.array(jax.devices()), ("data",))
    sharding = NamedSharding(mesh, P("data"))
    assert len(sharding.device_set) == 8
    host = list(loader(n=40, batch_size=16, drop_last=False).epoch(1))
    placed = list(loader(n=40, batch_size=16, drop_last=False, sharding=sharding).epoch(1))
    for batch in placed:
        assert all(isinstance(v, jax.Array) and v.sharding == sharding for v in batch.values())
        assert batch["row"].shape == (16, 1)
    assert_same(host, placed)


def test_batch_size_must_divide_by_devices_and_processes():
    sharding = NamedSharding(Mesh(np.array(jax.devices()), ("data",)), P("data"))
    with pytest.raises(ValueError, match="divide by the 8 devices"):
        loader(n=40, batch_size=12, sharding=sharding)
    with pytest.raises(ValueError, match="divide by the 3 processes"):
        loader(batch_size=4, process_index=0, process_count=3)
