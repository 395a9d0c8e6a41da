"""What a run tells a person beside the JSON line: the keys that differ from the task's defaults, and at
the end the metrics against the baseline, the checkpoint chosen, the worst classes and the files (with
`train`'s curves, pictures in TensorBoard and per_class.csv written first: `finish_run`)."""

from __future__ import annotations

import csv
import pathlib
from typing import Any

from jaxres.platform import files
from jaxres.config import get_path
from jaxres.train import parallel
from jaxres.train.checkpoint import config_diff
from jaxres.train.progress import MetricsLog
from jaxres.train.tensorboard import Board, event_files
from jaxres.viz import NOT_CHARTED, draw_curves

MAX_ROWS = 12  # a task may report many metrics; the JSON line has them all
PER_CLASS_FILE = "per_class.csv"
WORST = 5  # classes named in the ending


def config_changes(defaults: dict, config: dict, synthetic: dict | None = None, why: str | None = None) -> str:
    """'config (differs from the task's defaults):' and a `key: default -> value` line per change, the
    embedded run's overrides tagged with `why`; empty when nothing differs."""
    synthetic = synthetic or {}
    keys = [k for k in config_diff(defaults, config) if not k.startswith("synthetic.")]
    if not keys:
        return ""
    width = max(len(k) for k in keys)
    by_demo = {key for key in keys if key in synthetic and synthetic[key] == get_path(config, key)}
    lines = ["config (differs from the task's defaults):"] + [
        f"  {key:<{width}}  {get_path(defaults, key)!r} -> {get_path(config, key)!r}"
        + ("  (embedded demo run)" if key in by_demo else "") for key in keys]
    if by_demo:
        lines.append("  the embedded demo run (no --data) changes the keys marked"
                     + (f": {why}" if why else "") + "; pass --data to train with the task's own settings")
    return "\n".join(lines)


def fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def metric_rows(result: dict) -> list[tuple[str, str, str]]:
    """(metric, model, baseline) for every scalar metric of an evaluation result (the record count
    is in the table's head; the per-class table in per_class.csv)."""
    baseline = result.get("baseline") or {}
    return [(key, fmt(value), fmt(baseline[key]) if key in baseline else "-") for key, value in result.items()
            if key not in ("split", "n", "baseline", *NOT_CHARTED)
            and isinstance(value, (int, float)) and not isinstance(value, bool)]


def ending(result: dict, *, best: tuple[int, int] | None, files: dict[str, list]) -> str:
    """The table printed before the final JSON line. `best`: (epoch, step) of the checkpoint evaluated;
    `files`: {label: [paths]} (checkpoints, curves, pictures, tensorboard)."""
    rows = metric_rows(result)
    head = f"result on {result.get('split', '?')}" + (f" ({result['n']} records)" if "n" in result else "")
    if best is not None:
        head += f", best checkpoint: epoch {best[0]}, step {best[1]}"
    table = [("metric", "model", "baseline"), *rows[:MAX_ROWS]]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = [head] + [f"  {a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}" for a, b, c in table]
    if len(rows) > MAX_ROWS:
        lines.append(f"  (+{len(rows) - MAX_ROWS} more in the JSON line below)")
    worst = worst_classes(result.get("per_class") or {})
    if worst:
        lines.append(f"lowest F1 of {len(result['per_class'])} classes: "
                     + ", ".join(f"{name} {row['f1']:.2f} ({row['support']})" for name, row in worst)
                     + f" (F1 (support); all in {PER_CLASS_FILE})")
    label_width = max((len(k) for k in files), default=0)
    lines += [f"{label:<{label_width}}  " + ", ".join(map(str, paths)) for label, paths in files.items() if paths]
    return "\n".join(lines)


def worst_classes(table: dict[str, dict], most: int = WORST) -> list[tuple[str, dict]]:
    """The `most` classes with the lowest F1 among those the split holds (support > 0)."""
    rows = [(name, row) for name, row in table.items() if row.get("support", 0) > 0]
    return sorted(rows, key=lambda item: (item[1]["f1"], -item[1]["support"]))[:most]


def write_per_class(result: dict, folder: pathlib.Path) -> pathlib.Path | None:
    """per_class.csv (class, precision, recall, f1, support) of an evaluation with a per-class
    table, in `folder`; None when the result has none."""
    table = result.get("per_class")
    if not table:
        return None
    path = pathlib.Path(folder) / PER_CLASS_FILE
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["class", "precision", "recall", "f1", "support"])
        for name, row in table.items():
            writer.writerow([name, *(f"{row[k]:.6g}" for k in ("precision", "recall", "f1")), row["support"]])
    return path


def best_epoch(history: list[dict], step: int | None) -> tuple[int, int] | None:
    """(epoch, step) of a checkpoint step, read from the metrics.jsonl records."""
    if step is None:
        return None
    epochs = [r.get("epoch") for r in history if r.get("step") == step and r.get("epoch") is not None]
    return (int(epochs[0]), int(step)) if epochs else None


def finish_run(workdir: pathlib.Path, result: dict, pictures: list, best_step: int | None, board: Board) -> None:
    """Print the ending table (primary process only); `result` is the evaluation with its baseline;
    the pictures go into the run's TensorBoard event file through `board` (the training's)."""
    if not parallel.is_primary():
        return
    workdir = pathlib.Path(workdir)
    history = MetricsLog(workdir / "metrics.jsonl").read()
    best = best_epoch(history, best_step)
    curves, problems = draw_curves(history, workdir, workdir.resolve().name, baselines=result.get("baseline"),
                                   best_step=best_step, baseline_label=f"baseline ({result.get('split', 'eval')})")
    for problem in problems:
        print(f"warning: {problem}", flush=True)
    board.pictures(pictures, step=best_step or 0)
    board.flush()
    per_class = write_per_class(result, workdir)
    listed = {
        "checkpoints": [workdir / "checkpoints" / ("" if best_step is None else str(best_step))],
        "curves": curves,
        "pictures": list(pictures),
        "per class": [per_class] if per_class else [],
        "tensorboard": [f"tensorboard --logdir {workdir}"] if event_files(workdir) else [],
    }
    print(ending(result, best=best, files=listed), flush=True)
