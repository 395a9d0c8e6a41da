"""Data parallelism with `jax.jit` and shardings: one "data" mesh axis, parameters replicated, batches
split, XLA's all-reduces; each process of a multi-host run feeds its slice of every global batch."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from jaxres.errors import ConfigError

DATA_AXIS = "data"

def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, **kwargs) -> bool:
    """Join a multi-process run (explicit arguments, else a TPU pod, SLURM or Open MPI launch that
    `jax.distributed.initialize()` reads from the environment); whether one was joined."""
    explicit = any(v is not None for v in (coordinator_address, num_processes, process_id))
    sizes = (os.environ.get(var, "") for var in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"))
    cluster = any(size.isdigit() and int(size) > 1 for size in sizes) or bool(os.environ.get("JAX_COORDINATOR_ADDRESS"))
    if not (explicit or cluster or "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")):
        return False
    jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)
    return True


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D "data" mesh over `devices` (default: all), axis type Auto: XLA propagates the shardings."""
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over "data", the rest whole."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def local_batch_size(global_batch_size: int, mesh: Mesh) -> int:
    """How many examples of each global batch this process loads."""
    if global_batch_size % mesh.size:
        raise ConfigError(f"train.batch_size {global_batch_size} is not divisible by the {mesh.size} devices; "
                          f"use a multiple of {mesh.size}")
    return global_batch_size // jax.process_count()


def shard_batch(batch: Mapping[str, Any], mesh: Mesh) -> dict[str, jax.Array]:
    """Host-local arrays (this process's slice) -> global arrays split over "data"."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()}


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Copy a pytree of host values (the same on every process) onto every device of `mesh`."""
    sharding = replicated(mesh)

    def put(leaf):
        value = np.asarray(leaf)
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

    return jax.tree.map(put, tree)


def to_host(tree: Any) -> Any:
    """numpy copies of (possibly multi-host) global arrays: sharded ones gathered, replicated ones read."""

    def get(leaf):
        if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
            return np.asarray(jax.device_get(leaf))
        if leaf.sharding.is_fully_replicated:
            return np.asarray(leaf.addressable_data(0))
        return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))

    return jax.tree.map(get, tree)


def barrier(name: str) -> None:
    """Wait until every process has reached the barrier `name` (nothing to wait for with one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def is_primary() -> bool:
    """Whether this process writes the shared files (logs, lock, plots)."""
    return jax.process_index() == 0
