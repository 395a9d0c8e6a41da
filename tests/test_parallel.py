"""Data parallelism: the same global batch gives the same training on 1 device, 8 devices, and
8 devices spread over two processes."""

import os
import pathlib
import pickle
import socket
import subprocess
import sys

import jax
import pytest

import train_helpers as H
from jaxres.errors import ConfigError
from jaxres.train import parallel, steps
from jaxres.train import state as state_lib

GLOBAL_BATCH, STEPS = 16, 2
TESTS = pathlib.Path(__file__).resolve().parent


def global_batches(count: int = STEPS):
    data = H.dataset(GLOBAL_BATCH * STEPS, seed=1)
    return [{k: v[i * GLOBAL_BATCH:(i + 1) * GLOBAL_BATCH] for k, v in data.items()} for i in range(count)]


def train_on(devices: int, count: int = STEPS):
    _, variables = H.model_and_variables()
    mesh = H.mesh(devices)
    state = state_lib.create(variables, H.optimizer("plain", 1, 1).tx, 0, mesh)
    step, metrics = H.train_step("plain", 1, 1, devices), steps.empty_metrics()
    for batch in global_batches(count):
        state, metrics = step(state, parallel.shard_batch(batch, mesh), metrics, ())
    return jax.device_get({"params": state.params, "batch_stats": state.batch_stats, "metrics": metrics})


@pytest.fixture(scope="module")
def on_eight():
    return train_on(8)


def test_mesh_and_shardings():
    mesh = H.mesh()
    assert mesh.axis_names == ("data",) and mesh.size == 8
    batch = parallel.shard_batch(global_batches()[0], mesh)
    assert batch["image"].sharding.spec == parallel.batch_sharding(mesh).spec
    assert len(batch["image"].addressable_shards) == 8 and batch["image"].addressable_shards[0].data.shape[0] == 2
    assert H.local_rows(16, mesh) == slice(0, 16)
    with pytest.raises(ConfigError, match="divisible"):
        parallel.local_batch_size(12, mesh)
    assert parallel.initialize_distributed() is False  # no cluster here: a no-op


def test_one_and_eight_devices_agree():
    """One step: 1 device multiplies 16-row matrices where 8 devices multiply 2-row ones, and the
    1x1 and small-map convolutions are matmuls (jaxres.models.conv), so the two differ by float32
    rounding (5e-7 after a step); at lr 0.05 a second step amplifies that to 1e-3 through layer4's
    BatchNorm over 1x1 maps. Two processes and one, with the same rows per device, are compared
    over several steps below."""
    on_one, on_eight = train_on(1, count=1), train_on(8, count=1)
    loss1 = on_one["metrics"]["loss_sum"]
    loss8 = on_eight["metrics"]["loss_sum"]
    assert abs(float(loss1) - float(loss8)) <= 1e-5
    assert H.max_abs_diff(on_one["params"], on_eight["params"]) <= 1e-5
    assert H.max_abs_diff(on_one["batch_stats"], on_eight["batch_stats"]) <= 1e-5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_agree_with_one(on_eight, tmp_path):
    _, variables = H.model_and_variables()
    job, out = tmp_path / "job.pkl", tmp_path / "out.pkl"
    workdir = tmp_path / "run"
    job.write_bytes(pickle.dumps({"variables": variables, "batches": global_batches(), "workdir": str(workdir)}))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS), os.environ.get("PYTHONPATH", "")])}
    coordinator = f"127.0.0.1:{free_port()}"
    procs = [subprocess.Popen([sys.executable, str(TESTS / "distributed_worker.py"), coordinator, str(i), str(job), str(out)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=300)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), "\n----\n".join(log[-3000:] for log in logs)
    two = pickle.loads(out.read_bytes())  # trained by `fit`: logs and a checkpoint in the shared workdir
    assert abs(float(two["metrics"]["loss_sum"]) - float(on_eight["metrics"]["loss_sum"])) <= 1e-5 * STEPS
    assert sorted(os.listdir(workdir / "checkpoints")) == [str(STEPS)]
    assert H.max_abs_diff(two["params"], on_eight["params"]) <= 1e-5
    assert H.max_abs_diff(two["batch_stats"], on_eight["batch_stats"]) <= 1e-5
