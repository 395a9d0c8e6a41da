"""`eval`: metrics of the workdir's best checkpoint on a split: a table beside the baseline, then one
JSON line (the last line of stdout, for scripts)."""

from __future__ import annotations

import json
import math
import pathlib

from jaxres import evaluation, report
from jaxres.commands.restore import trained
from jaxres.commands.splits import eval_splits, resolve_data_path


def evaluate_command(task, args) -> int:
    built, variables = trained(args.workdir)
    config = built.config
    if args.data:
        config["data"]["path"] = args.data
    path = resolve_data_path(task, config)
    split, dataset, train = eval_splits(task, path, config, built.facts, args.split)  # validated, labelled like the model
    result, predictions = evaluation.evaluate(built, variables, dataset, train)
    pictures = evaluation.write_pictures(pathlib.Path(args.workdir), built.objective, dataset, predictions)
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
