"""One process of the two-process data-parallel test (run by tests/test_parallel.py).

usage: python distributed_worker.py COORDINATOR PROCESS_ID IN.pkl OUT.pkl

Joins a 2-process JAX run (4 CPU devices each) and runs `fit` for one epoch over the global batches
in IN.pkl on a mesh spanning all 8 devices, each process feeding only its rows of every batch and
both checkpointing into the shared workdir; process 0 writes the whole train state after every step
and the logged loss of every step to OUT.pkl.

IN.pkl's "fault" (None normally) makes a process break the run the way a bug would, so the test can
show that it notices: "other_rows" (process 1 feeds process 0's rows), "double_shard" (process 1
feeds its first shard twice), "no_all_reduce" (each process trains on a mesh of its own devices).
"""

import os
import pickle
import sys

import jax
import numpy as np

import train_helpers as H


def main(coordinator: str, process_id: int, in_path: str, out_path: str) -> None:
    cache = os.environ.get("JAXRES_COMPILATION_CACHE")
    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    from jaxres.train import parallel

    assert parallel.initialize_distributed(coordinator, 2, process_id, initialization_timeout=120)
    assert jax.process_count() == 2 and jax.device_count() == 8 and jax.local_device_count() == 4

    from jaxres import models
    from jaxres.train import loop
    from jaxres.train import state as state_lib
    from jaxres.train import steps

    with open(in_path, "rb") as f:
        job = pickle.load(f)
    fault = job.get("fault")
    mesh = parallel.make_mesh(jax.local_devices() if fault == "no_all_reduce" else None)
    model = models.create("resnet18", num_outputs=H.CLASSES)
    tx = H.optimizer("plain", 1, 1).tx
    state = state_lib.create(job["variables"], tx, 0, mesh)
    compiled = steps.make_train_step(model, H.cross_entropy, tx, mesh=mesh)
    after_each_step = []

    def train_step(state, batch, metrics, frozen):  # `fit`'s step, recording where it leads
        state, metrics = compiled(state, batch, metrics, frozen)
        after_each_step.append(parallel.to_host(state))
        return state, metrics

    def batches(epoch, start):  # this process loads only its rows of every global batch
        for batch in job["batches"][start:]:
            yield parallel.shard_batch(_local(batch, mesh, process_id, fault), mesh)

    config = {"train": {"epochs": 1, "batch_size": len(job["batches"][0]["label"]), "log_every": 1},
              "checkpoint": {"keep": 1}}
    workdir = job["workdir"] + (f"-{process_id}" if fault == "no_all_reduce" else "")
    loop.fit(state, train_step, batches, steps_per_epoch=len(job["batches"]), config=config, workdir=workdir)
    if process_id == 0:
        records = loop.MetricsLog(os.path.join(workdir, "metrics.jsonl")).read()
        with open(out_path, "wb") as f:
            pickle.dump({"steps": after_each_step, "losses": [r["loss"] for r in records if "loss" in r]}, f)
    jax.distributed.shutdown()


def _local(batch: dict, mesh, process_id: int, fault) -> dict:
    """This process's rows of a global batch, or the wrong ones when a fault is asked for."""
    n = len(batch["label"])
    if fault == "no_all_reduce":
        rows = slice(process_id * n // 2, (process_id + 1) * n // 2)
    else:
        rows = H.local_rows(n, mesh)
    local = {k: v[rows] for k, v in batch.items()}
    if process_id == 1 and fault == "other_rows":
        local = {k: v[:n // 2] for k, v in batch.items()}
    if process_id == 1 and fault == "double_shard":
        shard = n // 8
        local = {k: np.concatenate([v[:shard], v[:shard], v[2 * shard:]]) for k, v in local.items()}
    return local


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
