"""One process of the two-process data-parallel test (run by tests/test_parallel.py).

usage: python distributed_worker.py COORDINATOR PROCESS_ID IN.pkl OUT.pkl

Joins a 2-process JAX run (4 CPU devices each) and runs `fit` for one epoch over the global batches
in IN.pkl on a mesh spanning all 8 devices, each process feeding only its rows of every batch and
both checkpointing into the shared workdir; process 0 writes the final parameters and the logged
losses to OUT.pkl.
"""

import os
import pickle
import sys

import jax


def main(coordinator: str, process_id: int, in_path: str, out_path: str) -> None:
    cache = os.environ.get("JAXRES_COMPILATION_CACHE")
    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    from jaxres.train import parallel

    assert parallel.initialize_distributed(coordinator, 2, process_id, initialization_timeout=120)
    assert jax.process_count() == 2 and jax.device_count() == 8 and jax.local_device_count() == 4

    import train_helpers as H
    from jaxres import models
    from jaxres.train import loop
    from jaxres.train import state as state_lib
    from jaxres.train import steps

    with open(in_path, "rb") as f:
        job = pickle.load(f)
    mesh = parallel.make_mesh()
    model = models.create("resnet18", num_outputs=H.CLASSES)
    tx = H.optimizer("plain", 1, 1).tx
    state = state_lib.create(job["variables"], tx, 0, mesh)
    train_step = steps.make_train_step(model, H.cross_entropy, tx, mesh=mesh)

    def batches(epoch, start):  # this process loads only its rows of every global batch
        for batch in job["batches"][start:]:
            rows = H.local_rows(len(batch["label"]), mesh)
            yield parallel.shard_batch({k: v[rows] for k, v in batch.items()}, mesh)

    config = {"train": {"epochs": 1, "batch_size": len(job["batches"][0]["label"]), "log_every": 1},
              "checkpoint": {"keep": 1}}
    state = loop.fit(state, train_step, batches, steps_per_epoch=len(job["batches"]), config=config,
                     workdir=job["workdir"]).state
    result = parallel.to_host({"params": state.params, "batch_stats": state.batch_stats})
    if process_id == 0:
        records = loop.MetricsLog(os.path.join(job["workdir"], "metrics.jsonl")).read()
        result["metrics"] = {"loss_sum": sum(r["loss"] for r in records)}
        with open(out_path, "wb") as f:
            pickle.dump(result, f)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
