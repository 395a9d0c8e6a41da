"""One training through the public API, as `python -m tasks.<task> train` runs it, minus the disk.

The command line saves a checkpoint after every epoch; with 2 steps per epoch (96 photos) that write
costs as much as the training on a shared CPU, so the cross-validation runs the command's own build
(`training_splits`, `assembly.start_training`, the loaders, `evaluation.evaluate`) with a loop that
saves nothing. The model evaluated is chosen as the workdir's would be: the best validation epoch by
`checkpoint.best_metric` (the first of equals), else the last state (its EMA weights when there is one).
"""

from __future__ import annotations

import time

import jax

from jaxres.cli.commands.splits import resolve_data_path, training_splits
from jaxres.config import apply_overrides, defaults, load_config_file
from jaxres.train import assembly, evaluation, parallel
from jaxres.train.steps import empty_metrics


def resolved_config(config_file: str, overrides: list[str], data: str) -> dict:
    """The config file over the defaults, then `overrides`, for the data at `data`."""
    return apply_overrides(defaults.complete(load_config_file(config_file)), [*overrides, f"data.path={data!r}"])


def train_and_test(task, config: dict) -> dict:
    """The evaluation split's metrics after training `config` on `config["data"]["path"]`."""
    start = time.time()
    splits = training_splits(task, resolve_data_path(task, config), config, False)
    built = assembly.for_training(config, splits.train, mesh=parallel.make_mesh())
    training = assembly.start_training(built, splits.train)
    state, step, epochs = training.state, training.step, int(config["train"]["epochs"])
    loader, val_loader = built.loader(splits.train, train=True), built.eval_loader(splits.val)
    metric, mode = config["checkpoint"]["best_metric"], config["checkpoint"]["best_mode"]
    best, best_score, metrics = None, None, empty_metrics(state.step.sharding)
    for epoch in range(epochs):
        for batch in loader.epoch(epoch):
            state, metrics = step(state, batch, metrics, training.frozen_at_epoch(epoch))
        if metric:
            score = evaluation.metrics(built, state.variables(), splits.val, val_loader)[metric]
            if best_score is None or (score > best_score if mode == "max" else score < best_score):
                best, best_score = jax.device_get(state.variables()), score
    variables = best if best is not None else jax.device_get(state.variables())
    result, _ = evaluation.evaluate(built, variables, splits.eval, splits.train)
    return {**result, "split": splits.eval_name, "train_seconds": round(time.time() - start, 1)}
