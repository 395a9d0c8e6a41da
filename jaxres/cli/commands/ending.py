"""The end of `train`: curves with the baseline, pictures in TensorBoard, per_class.csv, the table; the
JSON line last on stdout."""

from __future__ import annotations

import pathlib
import sys

from jaxres.cli.commands import report
from jaxres.train import parallel
from jaxres.viz import draw_curves
from jaxres.train.progress import MetricsLog
from jaxres.train.tensorboard import Board, event_files


def finish_run(workdir: pathlib.Path, result: dict, pictures: list, best_step: int | None, board: Board) -> None:
    """Print the ending table (primary process only); `result` is the evaluation with its baseline;
    the pictures go into the run's TensorBoard event file through `board` (the training's)."""
    if not parallel.is_primary():
        return
    workdir = pathlib.Path(workdir)
    history = MetricsLog(workdir / "metrics.jsonl").read()
    best = report.best_epoch(history, best_step)
    baselines = {k: v for k, v in (result.get("baseline") or {}).items() if isinstance(v, (int, float))}
    curves, problems = draw_curves(history, workdir, workdir.resolve().name,
                                   baselines=baselines, best_step=best_step,
                                   baseline_label=f"baseline ({result.get('split', 'eval')})") if history else ([], [])
    for problem in problems:
        print(f"warning: {problem}", flush=True)
    board.pictures(pictures, step=best_step or 0)
    board.flush()
    per_class = report.write_per_class(result, workdir)
    files = {
        "checkpoints": [workdir / "checkpoints" / str(best_step)] if best_step is not None else [workdir / "checkpoints"],
        "curves": curves,
        "pictures": list(pictures),
        "per class": [per_class] if per_class else [],
        "tensorboard": [f"tensorboard --logdir {workdir}"] if event_files(workdir) else [],
    }
    print(report.ending(result, workdir=workdir, best=best, files=files), file=sys.stdout, flush=True)
