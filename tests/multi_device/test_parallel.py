"""Data parallelism: the same global batch gives the same training on 1 device, 8 devices, and
8 devices spread over two processes."""

import os
import pathlib
import pickle
import re
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
HERE = pathlib.Path(__file__).resolve().parent
PATHS = [str(HERE.parent.parent), str(HERE.parent), str(HERE)]  # the checkout, tests/, this folder


def global_batches(count: int = STEPS):
    data = H.dataset(GLOBAL_BATCH * STEPS, seed=1)
    return [{k: v[i * GLOBAL_BATCH:(i + 1) * GLOBAL_BATCH] for k, v in data.items()} for i in range(count)]


def train_on(devices: int, count: int = STEPS) -> dict:
    """`count` steps on a mesh of `devices`: the state after each step and each step's loss."""
    _, variables = H.model_and_variables()
    state = state_lib.create(variables, H.optimizer("plain", 1, 1).tx, 0, H.mesh(devices))
    out = {"steps": [], "losses": []}
    for batch in global_batches(count):
        state, loss = one_step(state, batch, devices)
        out["steps"].append(jax.device_get(state))
        out["losses"].append(loss)
    return out


def one_step(state, batch: dict, devices: int):
    """One train step of `state` (on the mesh of `devices`) on a global batch: (state, loss)."""
    mesh = H.mesh(devices)
    step = H.train_step("plain", 1, 1, devices)
    state, metrics = step(state, parallel.shard_batch(batch, mesh), steps.empty_metrics(state.step.sharding), ())
    return state, float(metrics["loss_sum"])


@pytest.fixture(scope="module")
def on_eight():
    return train_on(8)


@pytest.fixture(scope="module")
def on_one():
    return train_on(1, count=1)


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


def test_one_and_eight_devices_agree(on_one, on_eight):
    """One step: 1 device multiplies 16-row matrices where 8 devices multiply 2-row ones, and the
    1x1 and small-map convolutions are matmuls (jaxres.models.conv), so the two differ by float32
    rounding only (about 5e-7)."""
    assert abs(on_one["losses"][0] - on_eight["losses"][0]) <= 1e-5
    one, eight = on_one["steps"][0], on_eight["steps"][0]
    assert H.max_abs_diff(one.live_variables(), eight.live_variables()) <= 1e-5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_processes(tmp_path, fault: str | None = None) -> dict:
    """The same steps by two processes of four devices each (tests/distributed_worker.py); `fault`
    makes one of them misbehave (see the worker), to show that the comparison below notices."""
    _, variables = H.model_and_variables()
    job, out = tmp_path / "job.pkl", tmp_path / "out.pkl"
    job.write_bytes(pickle.dumps({"variables": variables, "batches": global_batches(), "fault": fault,
                                  "workdir": str(tmp_path / "run")}))
    # four devices a process, with the suite's other XLA settings (conftest: optimisation level 0)
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "--xla_force_host_platform_device_count=4",
                   os.environ.get("XLA_FLAGS", ""))
    env = {**os.environ, "XLA_FLAGS": flags,
           "PYTHONPATH": os.pathsep.join([*PATHS, os.environ.get("PYTHONPATH", "")])}
    coordinator = f"127.0.0.1:{free_port()}"
    procs = [subprocess.Popen([sys.executable, str(HERE / "distributed_worker.py"), coordinator, str(i), str(job), str(out)],
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
    return pickle.loads(out.read_bytes())


def test_two_processes_agree_with_one(on_eight, tmp_path):
    """Two processes train the same model as one process with the same eight devices.

    Only the order of the gradient and BatchNorm all-reduce differs (across processes it is a
    collective between them; within one, XLA's own), so each step, taken from the same state, agrees
    to float32 rounding (1e-5). The trajectories are compared step by step, not end to end: the
    second step starts from states that already differ by that rounding, and at lr 0.05 a step can
    amplify it a thousandfold (layer4's BatchNorm normalises 1x1 maps by a variance near zero), by
    how much depending on the machine's reduction order: 1.8e-3 after two steps here. So step k of
    the two processes is checked against one process's step k taken from the two processes' own
    state after step k - 1. A process that feeds wrong rows, counts a shard twice or trains without
    the other's gradients changes a step's loss and state by far more than 1e-5
    (distributed_worker.py's `fault` shows it)."""
    two = two_processes(tmp_path)
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == [str(STEPS)]
    assert len(two["losses"]) == len(two["steps"]) == STEPS
    mesh, before = H.mesh(8), None
    for k, batch in enumerate(global_batches()):
        if k == 0:
            expected, loss = on_eight["steps"][0], on_eight["losses"][0]
        else:
            expected, loss = one_step(parallel.replicate(before, mesh), batch, 8)
            expected = jax.device_get(expected)
        assert abs(two["losses"][k] - loss) <= 1e-5, f"step {k + 1}: loss {two['losses'][k]} against {loss}"
        assert H.max_abs_diff(two["steps"][k], expected) <= 1e-5, f"step {k + 1}"
        before = two["steps"][k]
