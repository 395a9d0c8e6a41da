"""What a person watching a run sees, and what a program reading it later gets.

`Progress`: one bar per epoch (loss, images/s, the epoch's ETA and the whole run's) redrawn in place on a terminal; plain lines
when stdout is a file or a pipe, so CI logs stay readable. It is updated only at log intervals,
when the loop has read the loss from the device anyway. `MetricsLog`: `metrics.jsonl`, one JSON
object per line, appended (a resumed run continues the same file).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import IO, Any

BAR_WIDTH = 24


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class RunClock:
    """The whole run's ETA: the steps left at the run's own pace so far.

    The pace counts everything between steps (evaluations, saves, the first compile), so the estimate
    starts high and settles; an epoch's ETA alone reads 0:00 in short runs and says nothing of them."""

    def __init__(self, total_steps: int, done_steps: int = 0):
        self.total, self.first = int(total_steps), int(done_steps)
        self.started = time.perf_counter()

    def eta(self, done_steps: int) -> float:
        elapsed = time.perf_counter() - self.started
        rate = (done_steps - self.first) / elapsed if elapsed > 0 else 0.0
        return (self.total - done_steps) / rate if rate > 0 else math.inf


class Progress:
    """Progress of one epoch: `update(done, loss, images_per_s)`, then `close(summary)`."""

    def __init__(self, epoch: int, epochs: int, total: int, start: int = 0, stream: IO[str] | None = None,
                 interactive: bool | None = None, enabled: bool = True, clock: RunClock | None = None):
        self.enabled = enabled  # only one process of a multi-host run draws
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.epoch, self.epochs, self.total, self.start = epoch, epochs, total, start
        self.clock = clock
        self.started = time.perf_counter()

    def line(self, done: int, loss: float, images_per_s: float) -> str:
        elapsed = time.perf_counter() - self.started
        rate = (done - self.start) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else math.inf
        head = f"epoch {self.epoch + 1}/{self.epochs}"
        if self.interactive:
            filled = int(BAR_WIDTH * done / max(self.total, 1))
            head += " [" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"
        text = f"{head} {done}/{self.total} loss {loss:.4f} {images_per_s:.1f} img/s ETA {format_duration(eta)}"
        if self.clock is not None:
            text += f" (run {format_duration(self.clock.eta(self.epoch * self.total + done))})"
        return text

    def update(self, done: int, loss: float, images_per_s: float) -> None:
        if not self.enabled:
            return
        text = self.line(done, loss, images_per_s)
        if self.interactive:
            self.stream.write("\r" + text + "\033[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self, summary: str = "") -> None:
        if not self.enabled:
            return
        took = format_duration(time.perf_counter() - self.started)
        end = f"epoch {self.epoch + 1}/{self.epochs} done in {took}" + (f": {summary}" if summary else "")
        self.stream.write(("\r" + end + "\033[K\n") if self.interactive else end + "\n")
        self.stream.flush()


class MetricsLog:
    """Appends records to `<workdir>/metrics.jsonl`; reads them back, the last record of a step winning."""

    def __init__(self, path: str | os.PathLike, enabled: bool = True, sinks: tuple = ()):
        self.path = os.fspath(path)
        self.enabled = enabled
        self.sinks = tuple(sinks)  # callables given every appended record too (TensorBoard)

    def append(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=False) + "\n")
        for sink in self.sinks:
            sink(record)

    def read(self) -> list[dict[str, Any]]:
        """All records, deduplicated on (split, step): steps repeated after a crash keep the newest."""
        if not os.path.exists(self.path):
            return []
        records: dict[tuple, dict] = {}
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    records[(record.get("split"), record.get("step"))] = record
        return sorted(records.values(), key=lambda r: (r.get("step", 0), r.get("split", "")))
