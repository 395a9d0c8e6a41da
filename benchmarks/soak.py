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
import threading
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


class RssSampler(threading.Thread):
    """Reads a process's RSS every `period` seconds into `samples` [(monotonic time, MB)] until it exits."""

    def __init__(self, pid: int, period: float = 0.02):
        super().__init__(daemon=True)
        self.pid, self.period, self.samples = pid, period, []

    def run(self) -> None:
        while True:
            try:
                self.samples.append((time.monotonic(), rss_mb(self.pid)))
            except (OSError, RuntimeError):  # the process has exited (or is a zombie without VmRSS)
                return
            time.sleep(self.period)


def per_epoch_range(samples: list[tuple[float, float]], ends: dict[int, float]) -> dict[int, tuple[float, float]]:
    """{epoch: (lowest, highest RSS MB)} over the samples from the previous epoch's eval line to its own."""
    ranges, start = {}, float("-inf")
    for epoch in sorted(ends):
        inside = [mb for t, mb in samples if start < t <= ends[epoch]]
        if inside:
            ranges[epoch] = (min(inside), max(inside))
        start = ends[epoch]
    return ranges


def train_watching_memory(workdir: pathlib.Path, epochs: int, log: pathlib.Path, overrides: list[str]
                          ) -> tuple[int, dict[int, float], dict[int, float], dict[int, tuple[float, float]]]:
    """(exit status, {epoch: RSS MB at its end}, {epoch: seconds since the previous epoch's end},
    {epoch: (lowest, highest) RSS MB during it})."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JAXRES_CACHE": str(log.parent / "jaxres-cache")}
    env.setdefault("JAXRES_COMPILATION_CACHE", str(REPO / ".jax_cache"))
    command = [sys.executable, "-m", "tasks.signs", "train", "--workdir", str(workdir), "--epochs", str(epochs),
               *SETTINGS, *(arg for item in overrides for arg in ("--set", item))]
    rss, wall, ends = {}, {}, {}
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as child, log.open("w") as out:
        sampler = RssSampler(child.pid)
        sampler.start()
        last = time.monotonic()
        for line in child.stdout:
            out.write(line)
            done = EPOCH_END.match(line)
            if done:
                epoch, now = int(done[1]), time.monotonic()
                rss[epoch], wall[epoch], ends[epoch], last = rss_mb(child.pid), now - last, now, now
    sampler.join()
    start = sampler.samples[0][0] if sampler.samples else 0.0
    (log.parent / "rss.json").write_text(json.dumps({  # the whole curve, for plots: seconds since start
        "samples": [(round(t - start, 3), round(mb, 1)) for t, mb in sampler.samples],
        "epoch_ends": {epoch: round(t - start, 3) for epoch, t in ends.items()}}))
    return child.returncode, rss, wall, per_epoch_range(sampler.samples, ends)


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


def report(rss: dict[int, float], steps: dict[int, float], wall: dict[int, float],
           ranges: dict[int, tuple[float, float]], loads: list[float]) -> bool:
    print("epoch  rss_mb  low_mb  high_mb  step_ms  epoch_s")
    for epoch in sorted(rss):
        step, (low, high) = steps.get(epoch), ranges.get(epoch, (float("nan"),) * 2)
        print(f"{epoch:>5}  {rss[epoch]:6.0f}  {low:6.0f}  {high:7.0f}  {step * 1000 if step else float('nan'):7.0f}"
              f"  {wall[epoch]:7.1f}")
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
        rc, rss, wall, ranges = train_watching_memory(workdir, args.epochs, log, args.set)
        loads.append(os.getloadavg()[0])
        if rc != 0 or len(rss) != args.epochs:
            print(f"training failed ({rc}) after {len(rss)} epochs; see {log}")
            return 1
        print(f"{args.epochs} epochs in {time.monotonic() - start:.0f} s")
        return 0 if report(rss, step_times(workdir), wall, ranges, loads) else 1


if __name__ == "__main__":
    sys.exit(main())
