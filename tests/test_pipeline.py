"""The loader: determinism, resumption, padding, sharding, multi-host split, errors, shutdown."""

import gc
import random
import threading
import time

import numpy as np
import pytest

from jaxres.data.pipeline import THREAD_PREFIX, Loader
from jaxres.errors import DataError


def make_batch(indices):
    """A batch whose values show which rows it holds (as a gather of cached frames would).

    The jitter (from an RNG the loader does not control) shuffles the order threads finish in, so
    determinism cannot come from lucky timing.
    """
    time.sleep(random.random() * 1e-3)
    return {"index": np.asarray(indices, np.int32), "row": np.asarray(indices, np.float32)[:, None] * 2}


def loader(n=21, **kwargs):
    kwargs = {"batch_size": 4, "seed": 7, "prefetch": 2, **kwargs}
    return Loader(n, make_batch, **kwargs)


def data_threads():
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def assert_same(batches_a, batches_b):
    assert len(batches_a) == len(batches_b)
    for a, b in zip(batches_a, batches_b):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))


def test_batches_do_not_depend_on_how_many_are_prefetched():
    one, four = loader(prefetch=1), loader(prefetch=4)
    assert_same(list(one.epoch(3)), list(four.epoch(3)))


def test_resume_mid_epoch_sees_the_remaining_batches():
    data = loader()
    full = list(data.epoch(2))
    assert len(full) == data.steps_per_epoch == 5
    assert_same(list(data.epoch(2, 3)), full[3:])
    assert list(data.epoch(2, data.steps_per_epoch)) == []


def test_epochs_and_seeds_shuffle_differently():
    data = loader()
    first, second = list(data.epoch(0)), list(data.epoch(1))
    order = lambda batches: np.concatenate([b["index"] for b in batches])  # noqa: E731
    assert not np.array_equal(order(first), order(second))
    assert not np.array_equal(order(first), order(list(loader(seed=8).epoch(0))))


def test_no_shuffle_keeps_file_order():
    batches = list(loader(shuffle=False).epoch(5))
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches]), np.arange(20))


def test_eval_mode_pads_the_last_batch_and_masks_it():
    data = loader(drop_last=False)
    batches = list(data.epoch(0))
    assert data.steps_per_epoch == len(batches) == 6
    assert all(b["index"].shape == (4,) and b["mask"].dtype == bool for b in batches)
    np.testing.assert_array_equal(batches[-1]["mask"], [True, False, False, False])
    real = np.concatenate([b["index"][b["mask"]] for b in batches])
    np.testing.assert_array_equal(np.sort(real), np.arange(21))


def test_drop_last_drops_a_different_remainder_and_has_no_mask():
    batches = list(loader().epoch(0))
    assert "mask" not in batches[0]
    assert len(np.unique(np.concatenate([b["index"] for b in batches]))) == 20


@pytest.mark.parametrize("drop_last", [True, False])
def test_two_processes_each_build_half_of_every_batch(drop_last):
    whole = list(loader(drop_last=drop_last).epoch(4))
    halves = [list(loader(drop_last=drop_last, process_index=p, process_count=2).epoch(4)) for p in (0, 1)]
    assert all(b["index"].shape == (2,) for b in halves[0] + halves[1])
    joined = [{k: np.concatenate([a[k], b[k]]) for k in a} for a, b in zip(*halves)]
    assert_same(joined, whole)


def test_exception_reaches_the_consumer_unchanged_and_stops_threads():
    def broken(indices):
        if 5 in indices:
            raise DataError("keypoint 3 is negative", where="points_24.csv:7")
        return make_batch(indices)

    with pytest.raises(DataError, match=r"^points_24.csv:7: keypoint 3 is negative$") as err:
        list(Loader(21, broken, batch_size=4, seed=0, prefetch=3).epoch(0))
    assert type(err.value) is DataError and err.value.where == "points_24.csv:7"
    assert data_threads() == []


def test_closing_early_stops_the_threads():
    before = data_threads()
    batches = loader(n=400, prefetch=4).epoch(0)
    next(batches)
    assert len(data_threads()) > len(before)
    batches.close()
    assert data_threads() == before

    dropped = loader(n=400, prefetch=4).epoch(0)
    next(dropped)
    del dropped
    gc.collect()
    assert data_threads() == before


def test_prefetch_is_bounded():
    made = []

    def counted(indices):
        made.append(indices)
        return make_batch(indices)

    batches = Loader(400, counted, batch_size=4, seed=0, prefetch=2).epoch(0)
    next(batches)
    time.sleep(0.05)
    assert len(made) <= 3  # the batch in hand + 2 prefetched
    batches.close()


def test_stats_count_waiting_and_total_time():
    data = loader()
    for _ in data.epoch(0):
        time.sleep(0.002)
    assert data.stats.batches == 5
    assert 0 < data.stats.wait_s < data.stats.total_s
    assert 0 < data.stats.wait_fraction < 1


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="larger than the data set"):
        loader(n=3, batch_size=4)
    with pytest.raises(ValueError, match="start_batch 6"):
        loader().epoch(0, 6)
    with pytest.raises(ValueError, match="reserves"):
        list(Loader(8, lambda i: {"mask": i}, batch_size=4, seed=0, drop_last=False).epoch(0))
