"""The loader: `make_batch(indices)` as the step's batches, ordered by (seed, epoch) only so a resumed
run sees the same batches; `batch_size` is global, and without `drop_last` the padded last batch
carries a `mask`, so shapes never change."""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import itertools
import math
import sys
import time
from typing import Callable, Iterator, Mapping

import jax
import numpy as np

MakeBatch = Callable[[np.ndarray], Mapping[str, np.ndarray]]

THREAD_PREFIX = "jaxres-data"


@dataclasses.dataclass
class PipelineStats:
    """The consumer's time between batch requests (`total_s`: its step time) and the part of it spent
    blocked here (`wait_s`): `wait_fraction` is the share of step time the data was the bottleneck."""

    batches: int = 0
    wait_s: float = 0.0
    total_s: float = 0.0

    @property
    def wait_fraction(self) -> float:
        return self.wait_s / self.total_s if self.total_s > 0 else 0.0

    def reset(self) -> None:
        self.batches, self.wait_s, self.total_s = 0, 0.0, 0.0


@dataclasses.dataclass(eq=False)
class Loader:
    """Deterministic, prefetched, multi-host batches: `for batch in loader.epoch(epoch, start_batch)`;
    numpy rows of this process without `sharding`, else global `jax.Array`s laid out by it."""

    num_examples: int
    make_batch: MakeBatch
    _: dataclasses.KW_ONLY
    batch_size: int
    seed: int
    shuffle: bool = True
    drop_last: bool = True
    prefetch: int = 2
    sharding: jax.sharding.Sharding | None = None
    process_index: int | None = None  # None: jax.process_index()
    process_count: int | None = None  # None: jax.process_count()
    stats: PipelineStats = dataclasses.field(default_factory=PipelineStats, init=False)

    def __post_init__(self) -> None:
        self.process_index = jax.process_index() if self.process_index is None else self.process_index
        self.process_count = jax.process_count() if self.process_count is None else self.process_count
        if self.num_examples <= 0:
            raise ValueError(f"the data set is empty (num_examples={self.num_examples})")
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.drop_last and self.num_examples < self.batch_size:
            raise ValueError(
                f"batch_size {self.batch_size} is larger than the data set ({self.num_examples} examples): "
                "with drop_last an epoch would have no batch; lower the batch size")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.prefetch < 1:
            raise ValueError(f"prefetch must be >= 1, got {self.prefetch}")
        if not 0 <= self.process_index < self.process_count:
            raise ValueError(f"process_index {self.process_index} is not in [0, {self.process_count})")
        if self.batch_size % self.process_count:
            raise ValueError(
                f"global batch_size {self.batch_size} does not divide by the {self.process_count} processes; "
                f"use a multiple of {self.process_count}")
        shards = 1 if self.sharding is None else _batch_shards(self.sharding)
        if self.batch_size % shards:
            raise ValueError(f"global batch_size {self.batch_size} does not divide by the {shards} devices the "
                             f"batch axis is sharded over; use a multiple of {shards}")

    @property
    def steps_per_epoch(self) -> int:
        whole, rest = divmod(self.num_examples, self.batch_size)
        return whole + (1 if rest and not self.drop_last else 0)

    def order(self, epoch: int) -> np.ndarray:
        """Example indices of the epoch, in the order batches take them (all processes agree)."""
        if not self.shuffle:
            return np.arange(self.num_examples)
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)

    def _rows(self, order: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """(example indices, mask) of this process's rows; positions past the epoch's end wrap to its start,
        masked out."""
        rows = self.batch_size // self.process_count
        start = batch * self.batch_size + self.process_index * rows
        positions = np.arange(start, start + rows)
        return order[positions % self.num_examples], positions < self.num_examples

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[dict]:
        """Batches `start_batch` … `steps_per_epoch - 1` of `epoch`; closing the iterator stops the threads,
        and `make_batch`'s exceptions reach the consumer unchanged."""
        if not 0 <= start_batch <= self.steps_per_epoch:
            raise ValueError(f"start_batch {start_batch} is not in [0, {self.steps_per_epoch}] for this epoch")
        return self._timed(self._placed(self._host_batches(epoch, start_batch)))

    def _host_batches(self, epoch: int, start_batch: int) -> Iterator[dict[str, np.ndarray]]:
        """This process's rows as numpy batches, built by a thread pool up to `prefetch` batches ahead."""
        pool = concurrent.futures.ThreadPoolExecutor(self.prefetch, thread_name_prefix=THREAD_PREFIX)
        try:
            order = self.order(epoch)  # once per epoch: a permutation of a big set is not free
            rows = (self._rows(order, batch) for batch in range(start_batch, self.steps_per_epoch))
            submitted = ((mask, pool.submit(self.make_batch, indices)) for indices, mask in rows)
            pending = collections.deque(itertools.islice(submitted, self.prefetch))
            while pending:
                mask, future = pending.popleft()
                pending.extend(itertools.islice(submitted, 1))  # refill first, so the threads stay busy while we wait
                out = dict(future.result())
                if not self.drop_last:
                    if "mask" in out:
                        raise ValueError("make_batch returned a 'mask' key, which the loader reserves for "
                                         "padding when drop_last=False; rename it")
                    out["mask"] = mask
                yield out
        finally:
            # At interpreter exit the executor's own atexit hook has already joined the threads, and
            # the modules shutdown() needs may be gone: nothing is left to do then.
            if not sys.is_finalizing():
                pool.shutdown(wait=True, cancel_futures=True)

    def _placed(self, batches: Iterator[dict[str, np.ndarray]]) -> Iterator[dict]:
        """Hand each batch to the devices one step ahead: the transfer overlaps the current step."""
        if self.sharding is None:
            yield from batches
            return
        placed = ({key: self._to_global(value) for key, value in host.items()} for host in batches)
        try:
            ahead = next(placed, None)
            while ahead is not None:
                current, ahead = ahead, next(placed, None)  # the next batch's transfer starts first
                yield current
        finally:
            batches.close()

    def _to_global(self, local: np.ndarray) -> jax.Array:
        global_shape = (self.batch_size, *local.shape[1:])
        return jax.make_array_from_process_local_data(self.sharding, local, global_shape)

    def _timed(self, batches: Iterator[dict]) -> Iterator[dict]:
        """Count the consumer's time between requests and the part of it spent waiting here."""
        try:
            asked = time.perf_counter()
            for batch in batches:
                self.stats.wait_s += time.perf_counter() - asked
                yield batch
                now = time.perf_counter()
                self.stats.total_s += now - asked
                self.stats.batches += 1
                asked = now
        finally:
            batches.close()


def _batch_shards(sharding: jax.sharding.Sharding) -> int:
    """How many ways `sharding` splits the leading (batch) axis."""
    if isinstance(sharding, jax.sharding.NamedSharding):
        axes = sharding.spec[0] if len(sharding.spec) else None
        axes = () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
        return math.prod(sharding.mesh.shape[axis] for axis in axes)
    return len(sharding.device_set)
