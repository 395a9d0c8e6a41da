"""What the checksums cost: sealing and verifying a ResNet-50 training checkpoint, checking frame-cache
rows, and an export's `<file>.sha256`, beside the work they guard (the save, a restore, reading the
rows, writing the export).

    python benchmarks/checksum_cost.py [--frames 4000] [--side 224]

Prints one JSON object; docs/BENCHMARKS.md ("Checksums") records a run.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

import numpy as np


def checkpoint_cost(folder: pathlib.Path) -> dict:
    import optax

    from jaxres import models
    from jaxres.train import state as state_lib
    from jaxres.train.checkpoint import Checkpoints, seal, verify

    model = models.create("resnet50", num_outputs=1000)
    variables = models.init(model, 0, image_size=64)
    state = state_lib.create(variables, optax.adamw(1e-3), 0, None, ema=True)
    checkpoints = Checkpoints(folder, async_save=False)
    start = time.perf_counter()
    checkpoints.save(state, position={"epoch": 1, "batch": 0}, config={}, wait=True)  # includes one seal
    save_s = time.perf_counter() - start
    step = folder / str(checkpoints.latest_step())
    size = sum(p.stat().st_size for p in step.rglob("*") if p.is_file())
    start = time.perf_counter()
    seal(step)
    seal_s = time.perf_counter() - start
    start = time.perf_counter()
    assert verify(step) is None
    verify_s = time.perf_counter() - start
    start = time.perf_counter()
    checkpoints.restore(state)  # verifies, then reads
    restore_s = time.perf_counter() - start
    checkpoints.close()
    return {"checkpoint_mb": round(size / 1e6, 1), "save_s_with_seal": round(save_s, 3), "seal_s": round(seal_s, 3),
            "verify_s": round(verify_s, 3), "restore_s_with_verify": round(restore_s, 3)}


def cache_cost(folder: pathlib.Path, frames: int, side: int) -> dict:
    from jaxres.data.frame_cache import _checksum

    shape = (frames, side, side, 3)
    rows = np.memmap(folder / "rows.bin", np.uint8, "w+", shape=shape)
    rows[:] = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    rows.flush()
    rows = np.memmap(folder / "rows.bin", np.uint8, "r", shape=shape)
    start = time.perf_counter()
    total = int(sum(int(rows[i].sum(dtype=np.uint64)) & 1 for i in range(frames)))  # reading each row once
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(frames):
        _checksum(rows[i])
    check_s = time.perf_counter() - start
    del total
    return {"frames": frames, "side": side, "cache_mb": round(rows.nbytes / 1e6, 1), "read_rows_s": round(read_s, 3),
            "checksum_rows_s": round(check_s, 3), "checksum_us_per_frame": round(1e6 * check_s / frames, 1)}


def export_cost(folder: pathlib.Path, megabytes: int = 98, repeats: int = 5) -> dict:
    """An export the size of a ResNet-50 float32 state dict: writing it whole, its `.sha256`, the check
    on load (medians of `repeats`)."""
    from jaxres.platform import files

    blob = np.random.default_rng(0).integers(0, 256, megabytes << 20, dtype=np.uint8).tobytes()
    path, times = folder / "model.pth", {"write": [], "seal": [], "check": []}
    for _ in range(repeats):
        steps = (("write", lambda: files.write_chunks(path, [blob])), ("seal", lambda: files.write_checksum(path)),
                 ("check", lambda: files.check_checksum(path)))
        for name, work in steps:
            start = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - start)
    return {"export_mb": round(len(blob) / 1e6, 1),
            **{f"export_{name}_s": round(float(np.median(t)), 3) for name, t in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--side", type=int, default=224)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "cache").mkdir()
        result = {**checkpoint_cost(tmp / "checkpoints"), **cache_cost(tmp / "cache", args.frames, args.side),
                  **export_cost(tmp)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
