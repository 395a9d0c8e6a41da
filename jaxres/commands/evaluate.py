"""`eval`: metrics of the workdir's best checkpoint on a split: a table beside the baseline, then one
JSON line (the last line of stdout, for scripts)."""

from __future__ import annotations

import json
import math
import pathlib

from jaxres import evaluation, experiment, report
from jaxres.commands.restore import load_trained
from jaxres.commands.splits import eval_splits


def evaluate_command(task, args) -> int:
    config, model, objective, variables = load_trained(args.workdir)
    if args.data:
        config["data"]["path"] = args.data
    path = experiment.resolve_data_path(task, config)
    split, dataset, train = eval_splits(task, path, config, args.split)  # validated, labelled like the model
    result, predictions = evaluation.evaluate(model, variables, objective, dataset, train, config)
    pictures = evaluation.write_pictures(pathlib.Path(args.workdir), objective, dataset, predictions)
    print(report.ending({"split": split, **result}, workdir=pathlib.Path(args.workdir), best=None,
                        files={"pictures": pictures}), flush=True)
    print_result({"split": split, **result})
    return 0


def print_result(result: dict) -> None:
    """The metrics as one strict JSON object on the last stdout line (NaN becomes null)."""
    print(json.dumps(_finite(result), sort_keys=False), flush=True)


def _finite(value):
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
