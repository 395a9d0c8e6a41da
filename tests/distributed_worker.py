"""One process of the two-process data-parallel test (run by tests/test_parallel.py).

usage: python distributed_worker.py COORDINATOR PROCESS_ID IN.pkl OUT.pkl

Joins a 2-process JAX run (4 CPU devices each), trains the steps described in IN.pkl on a mesh
spanning all 8 devices, feeding only this process's rows of each global batch, and (process 0)
writes the final parameters and mean loss to OUT.pkl.
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
    from jaxres.train import state as state_lib
    from jaxres.train import steps

    with open(in_path, "rb") as f:
        job = pickle.load(f)
    mesh = parallel.make_mesh()
    model = models.create("resnet18", num_outputs=H.CLASSES)
    tx = H.optimizer("plain", 1, 1).tx
    state = state_lib.create(job["variables"], tx, 0, mesh)
    train_step = steps.make_train_step(model, H.cross_entropy, tx, mesh=mesh)
    metrics = steps.empty_metrics()
    for batch in job["batches"]:
        rows = parallel.local_rows(len(batch["label"]), mesh)
        local = {k: v[rows] for k, v in batch.items()}
        state, metrics = train_step(state, parallel.shard_batch(local, mesh), metrics, ())
    result = parallel.to_host({"params": state.params, "batch_stats": state.batch_stats, "metrics": metrics})
    if process_id == 0:
        with open(out_path, "wb") as f:
            pickle.dump(result, f)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
