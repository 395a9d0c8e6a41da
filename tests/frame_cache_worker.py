"""A process that builds a frame cache, for tests/test_frame_cache.py.

usage: python frame_cache_worker.py build ROOT IMAGES SLEEP
       python frame_cache_worker.py distributed ROOT IMAGES COORDINATOR PROCESS_ID OUT.npz

`build` caches the images of IMAGES (sleeping SLEEP seconds per image, so a test can kill it while
it writes). `distributed` joins a 2-process JAX run and builds the cache with the other process,
using `sync_global_devices` as the barrier; it writes how many records it decoded and all frames.
"""

import pathlib
import sys

import numpy as np

from jaxres.data import affine, frame_cache
from jaxres.data.records import Record

SPEC = frame_cache.FrameSpec(side=32, channels=3, settings={"framing": "box or whole image"})


def frame_of(record: Record, w: int, h: int) -> np.ndarray:
    if record.box is not None:
        return affine.crop_to_box(record.box, SPEC.side)
    return affine.resize_full(w, h, SPEC.side)


def records_in(images: pathlib.Path) -> list[Record]:
    files = sorted(p for p in images.iterdir() if p.suffix in (".png", ".jpg"))
    return [Record(str(p), f"images.csv:{i + 2}") for i, p in enumerate(files)]


def decoded_count(lines: list[str]) -> int:
    """How many records the log line says were decoded (0 without a line)."""
    return sum(int(line.split(": ")[1].split(" of ")[0]) for line in lines if line.startswith("frame cache:"))


def build(root: str, images: str, sleep: float) -> None:
    import time

    def slow_frame_of(record, w, h):
        time.sleep(sleep)
        return frame_of(record, w, h)

    frame_cache.load_or_build(records_in(pathlib.Path(images)), SPEC, slow_frame_of, root=pathlib.Path(root), workers=1)


def distributed(root: str, images: str, coordinator: str, process_id: int, out: str) -> None:
    import jax
    from jax.experimental import multihost_utils

    jax.distributed.initialize(coordinator_address=coordinator, num_processes=2, process_id=process_id,
                               initialization_timeout=120)
    lines: list[str] = []
    frames = frame_cache.load_or_build(records_in(pathlib.Path(images)), SPEC, frame_of, root=pathlib.Path(root),
                                       process_index=jax.process_index(), process_count=jax.process_count(),
                                       barrier=multihost_utils.sync_global_devices, log=lines.append)
    np.savez(out, decoded=decoded_count(lines), pixels=frames.take(np.arange(len(frames))))
    jax.distributed.shutdown()


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        distributed(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
