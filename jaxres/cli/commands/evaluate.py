"""`eval`: the best checkpoint's metrics on `--split` (or a whole annotation file given as `--data`) beside
the baseline, then one JSON line."""

from __future__ import annotations

import json
import pathlib

from jaxres.train import evaluation
from jaxres.cli.commands import report
from jaxres.train.restore import overrides_of
from jaxres.cli.commands.splits import eval_splits, resolve_data_path, whole_file
from jaxres.export.predictor import load
from jaxres.train.progress import MetricsLog


def evaluate_command(task, args) -> int:
    predictor = load(args.workdir, overrides_of(args))
    built, workdir, config = predictor.built, pathlib.Path(args.workdir), predictor.config
    if args.data:
        config["data"]["path"] = args.data
    path = resolve_data_path(task, config)
    if args.data and path.is_file() and not args.split:
        split, dataset, train = whole_file(task, path, config, built.facts)
    else:  # validated, labelled like the model
        split, dataset, train = eval_splits(task, path, config, built.facts, args.split)
    result, predictions = evaluation.evaluate(built, predictor.variables, dataset, train)
    pictures = evaluation.write_pictures(workdir, built.objective, dataset, predictions)
    history = MetricsLog(workdir / "metrics.jsonl", enabled=False).read()
    best = report.best_epoch(history, predictor.step)
    if best is None:
        split = f"{split}, checkpoint step {predictor.step}"
    print(report.ending({"split": split, **result}, best=best, files={"pictures": pictures}), flush=True)
    print_result({"split": split, "step": predictor.step, **result})
    return 0


def print_result(result: dict) -> None:
    """The metrics as one strict JSON object on the last stdout line (NaN and infinities become null)."""
    print(json.dumps(json.loads(json.dumps(result), parse_constant=lambda _: None)), flush=True)
