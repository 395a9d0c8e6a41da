"""What a person watching a run sees and a program reads later: `Progress`, `Ticker`, `Timed` (a
compile's seconds) and `MetricsLog` (metrics.jsonl)."""

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
    """The run's pace in steps per second, shared by the epoch's ETA and the run's; measured from the first
    reading on (the first interval holds the compile), "?" before a second one."""

    def __init__(self, total_steps: int):
        self.total = int(total_steps)
        self._origin: tuple[float, int] | None = None  # (time, steps done) at the first reading

    def rate(self, done_steps: int) -> float:
        now = time.perf_counter()
        if self._origin is None:
            self._origin = (now, done_steps)
            return 0.0
        since, first = self._origin
        return (done_steps - first) / (now - since) if now > since and done_steps > first else 0.0


class _Bar:
    """A line of progress on `stream` (stdout): redrawn in place on a terminal, one line per call in a pipe or file;
    `enabled` is false on all but one process of a multi-host run."""

    def __init__(self, total: int, stream: IO[str] | None, interactive: bool | None, enabled: bool):
        self.total, self.enabled, self.stream = int(total), enabled, stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.started = time.perf_counter()

    def bar(self, done: int) -> str:
        """' [####....]' on a terminal, '' elsewhere."""
        filled = int(BAR_WIDTH * min(done, self.total) / max(self.total, 1))
        return f" [{'#' * filled}{'.' * (BAR_WIDTH - filled)}]" if self.interactive else ""

    def show(self, text: str, end: bool = False) -> None:
        if not self.enabled:
            return
        self.stream.write("\r" + text + "\033[K" + ("\n" if end else "") if self.interactive else text + "\n")
        self.stream.flush()

    def took(self) -> str:
        return format_duration(time.perf_counter() - self.started)


class Progress(_Bar):
    """Progress of one epoch: `update(done, loss, images_per_s)`, then `close(summary)`. `clock`:
    the run's (one for the whole run, so the epoch's ETA and the run's share its pace)."""

    def __init__(self, epoch: int, epochs: int, total: int, stream: IO[str] | None = None,
                 interactive: bool | None = None, enabled: bool = True, clock: RunClock | None = None):
        super().__init__(total, stream, interactive, enabled)
        self.epoch, self.epochs = epoch, epochs
        self.clock = clock or RunClock(epochs * total)

    def line(self, done: int, loss: float, images_per_s: float) -> str:
        run_done = self.epoch * self.total + done
        rate = self.clock.rate(run_done)
        eta, run_eta = ((self.total - done) / rate, (self.clock.total - run_done) / rate) if rate > 0 else (math.inf,) * 2
        return (f"epoch {self.epoch + 1}/{self.epochs}{self.bar(done)} {done}/{self.total} loss {loss:.4f} "
                f"{images_per_s:.1f} img/s ETA {format_duration(eta)} (run {format_duration(run_eta)})")

    def update(self, done: int, loss: float, images_per_s: float) -> None:
        if self.enabled:
            self.show(self.line(done, loss, images_per_s))

    def close(self, summary: str = "") -> None:
        end = f"epoch {self.epoch + 1}/{self.epochs} done in {self.took()}" + (f": {summary}" if summary else "")
        self.show(end, end=True)


class Ticker(_Bar):
    """Progress of a counted job (`tick()` per item, then `close()`): a bar on a terminal, a line every
    `every_s` seconds elsewhere; a job done within the first interval prints nothing."""

    def __init__(self, what: str, total: int, stream: IO[str] | None = None, interactive: bool | None = None,
                 enabled: bool = True, every_s: float | None = None):
        super().__init__(total, stream, interactive, enabled)
        self.what, self.done, self.showed, self._shown = what, 0, False, self.started
        self.every_s = every_s if every_s is not None else (0.5 if self.interactive else 5.0)

    def tick(self, count: int = 1) -> None:
        self.done += count
        now = time.perf_counter()
        if self.enabled and now - self._shown >= self.every_s and self.done < self.total:
            self._shown, self.showed = now, True
            self.show(self.line(now))

    def line(self, now: float) -> str:
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else math.inf
        return f"{self.what}{self.bar(self.done)} {self.done}/{self.total} ({rate:.0f}/s, ETA {format_duration(eta)})"

    def close(self) -> None:
        if self.showed:
            self.show(f"{self.what}: {self.done}/{self.total} in {self.took()}", end=True)

    def __enter__(self) -> "Ticker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Timed:
    """'compiling the train step ... <seconds> s' around a block: the note before it, the time after
    it, on one line (a compile can take minutes at 224 px on a CPU, and nothing else prints meanwhile)."""

    def __init__(self, what: str, stream: IO[str] | None = None, enabled: bool = True):
        self.what, self.stream, self.enabled = what, stream or sys.stdout, enabled

    def __enter__(self) -> "Timed":
        self.started = time.perf_counter()
        if self.enabled:
            self.stream.write(f"{self.what} ...")
            self.stream.flush()
        return self

    def __exit__(self, kind, *exc) -> None:
        if self.enabled:
            took = time.perf_counter() - self.started
            self.stream.write(f" {took:.1f} s\n" if kind is None else " failed\n")
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
