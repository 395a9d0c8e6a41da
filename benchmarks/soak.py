"""Soak: a long training through the real command, watching host memory and step time epoch by epoch.

    python -m benchmarks.soak [--epochs 60] [--set KEY=VALUE ...] [--keep DIR]

`python -m tasks.signs train` runs in a child process on its embedded synthetic set (ResNet-18 at
48 px, batch 16, a checkpoint and a validation pass after every epoch). This process reads the
child's output as it comes: at each "epoch k eval:" line it takes the child's resident set size
(VmRSS in /proc/<pid>/status), so nothing is patched into the loop. Step times come from the
workdir's metrics.jsonl, which the loop writes anyway: one record per epoch whose images/s covers
the epoch's steps after its first. A leak (host arrays kept per step, checkpoints never freed,
compiled programs piling up) shows as RSS that keeps climbing; a slowdown as step times that drift.

Pass: RSS at the end within 10% of RSS after the first epoch. Exit 0 on pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
BATCH = 16
SETTINGS = ["--batch-size", str(BATCH), "--set", "model.arch=resnet18", "--set", "objective.image_size=48",
            "--set", "synthetic.generator.n_train=160", "--set", "synthetic.generator.n_val=40",
            "--set", "train.log_every=1000"]  # one metrics record per epoch, at its last step
EPOCH_END = re.compile(r"^epoch (\d+) eval:")  # after the epoch's steps and evaluation, as its checkpoint starts
TOLERANCE = 0.10


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def train_watching_memory(workdir: pathlib.Path, epochs: int, log: pathlib.Path, overrides: list[str]
                          ) -> tuple[int, dict[int, float], dict[int, float]]:
    """(exit status, {epoch: RSS MB at its end}, {epoch: seconds since the previous epoch's end})."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JAXRES_CACHE": str(log.parent / "jaxres-cache")}
    env.setdefault("JAXRES_COMPILATION_CACHE", str(REPO / ".jax_cache"))
    command = [sys.executable, "-m", "tasks.signs", "train", "--workdir", str(workdir), "--epochs", str(epochs),
               *SETTINGS, *(arg for item in overrides for arg in ("--set", item))]
    rss, wall = {}, {}
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as child, log.open("w") as out:
        last = time.monotonic()
        for line in child.stdout:
            out.write(line)
            done = EPOCH_END.match(line)
            if done:
                epoch, now = int(done[1]), time.monotonic()
                rss[epoch], wall[epoch], last = rss_mb(child.pid), now - last, now
    return child.returncode, rss, wall


def step_times(workdir: pathlib.Path) -> dict[int, float]:
    """{epoch: mean seconds per train step} from metrics.jsonl (the epoch's first step is not timed)."""
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {r["epoch"]: BATCH / r["images_per_s"] for r in records
            if r["split"] == "train" and r.get("images_per_s", 0) > 0}


def slope_per_epoch(values: dict[int, float]) -> float:
    """Least-squares slope over the second half of the run: the steady-state trend, warm-up excluded."""
    epochs = sorted(values)[len(values) // 2:]
    if len(epochs) < 2:
        return 0.0
    return statistics.linear_regression(epochs, [values[e] for e in epochs]).slope


def report(rss: dict[int, float], steps: dict[int, float], wall: dict[int, float], loads: list[float]) -> bool:
    print("epoch  rss_mb  step_ms  epoch_s")
    for epoch in sorted(rss):
        step = steps.get(epoch)
        print(f"{epoch:>5}  {rss[epoch]:6.0f}  {step * 1000 if step else float('nan'):7.0f}  {wall[epoch]:7.1f}")
    first, end = rss[min(rss)], rss[max(rss)]
    growth = (end - first) / first
    times = [1000 * t for t in steps.values()]
    print(f"RSS after epoch 1 {first:.0f} MB, at the end {end:.0f} MB ({growth:+.1%}; limit ±{TOLERANCE:.0%}); "
          f"second-half trend {slope_per_epoch(rss):+.2f} MB/epoch, peak {max(rss.values()):.0f} MB")
    print(f"step time per epoch: median {statistics.median(times):.0f} ms, min {min(times):.0f} ms, "
          f"max {max(times):.0f} ms over {len(times)} epochs; second-half trend "
          f"{1000 * slope_per_epoch(steps):+.2f} ms/epoch")
    print(f"load average (1 min): {loads[0]:.2f} at start, {loads[1]:.2f} at end; {os.cpu_count()} CPUs")
    passed = abs(growth) <= TOLERANCE
    print("PASS" if passed else "FAIL")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more config overrides")
    parser.add_argument("--keep", help="keep the workdir, its output and data here (default: removed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jaxres-soak-") as scratch:
        root = pathlib.Path(args.keep or scratch).resolve()
        root.mkdir(parents=True, exist_ok=True)
        workdir, log = root / "run", root / "soak.log"
        loads, start = [os.getloadavg()[0]], time.monotonic()
        rc, rss, wall = train_watching_memory(workdir, args.epochs, log, args.set)
        loads.append(os.getloadavg()[0])
        if rc != 0 or len(rss) != args.epochs:
            print(f"training failed ({rc}) after {len(rss)} epochs; see {log}")
            return 1
        print(f"{args.epochs} epochs in {time.monotonic() - start:.0f} s")
        return 0 if report(rss, step_times(workdir), wall, loads) else 1


if __name__ == "__main__":
    sys.exit(main())
