"""Run a model over a split and judge it: outputs -> original-pixel predictions -> metrics.

Used by `eval`, the end of `train` and `predict`. Outputs are computed in fixed-size padded batches
(one compilation), brought to the host once per batch, and unpadded with the batch's mask.
"""

from __future__ import annotations

import functools
import pathlib

import numpy as np

from jaxres import experiment, viz
from jaxres.data.records import Dataset
from jaxres.train import parallel
from jaxres.train.steps import make_eval_step

PICTURES = "pictures"


@functools.lru_cache(maxsize=8)
def _apply_fn(model, transform=None):
    """One compiled forward per (model, device transform), reused by every evaluation of a run."""
    return make_eval_step(model, transform=transform)


def make_loader(objective, dataset: Dataset, config: dict, mesh=None, frames=None):
    """The evaluation loader of `dataset` (build it once to run it every epoch)."""
    batch_size = experiment.eval_batch_size(config, len(dataset))
    return experiment.make_loader(objective, dataset, config, train=False, mesh=mesh, batch_size=batch_size,
                                  frames=frames)


def run_outputs(model, variables, objective, dataset: Dataset, config: dict, mesh=None, keys=("matrix",),
                loader=None):
    """(outputs (N, ...), {key: (N, ...)}) for every record of `dataset`, in order."""
    loader = loader or make_loader(objective, dataset, config, mesh)
    apply = _apply_fn(model, experiment.input_transform(objective, config, train=False))
    outputs, extras = [], {k: [] for k in keys}
    iterator = loader.epoch(0)
    try:
        for batch in iterator:
            mask = np.asarray(parallel.to_host(batch["mask"]), bool)
            out = parallel.to_host(apply(variables, {k: v for k, v in batch.items() if k not in keys + ("mask",)}))
            outputs.append(np.asarray(out)[mask])
            for k in keys:
                extras[k].append(np.asarray(parallel.to_host(batch[k]))[mask])
    finally:
        iterator.close()
    return np.concatenate(outputs), {k: np.concatenate(v) for k, v in extras.items()}


def evaluate(model, variables, objective, dataset: Dataset, train: Dataset, config: dict, mesh=None):
    """(metrics dict with a "baseline" entry, predictions in original pixels / probabilities)."""
    outputs, extras = run_outputs(model, variables, objective, dataset, config, mesh)
    predictions = objective.decode(outputs, extras)
    result = {"n": len(dataset), **objective.evaluate(predictions, dataset)}
    result["baseline"] = objective.baseline(train, dataset, extras["matrix"])
    return result, predictions


def write_pictures(workdir: pathlib.Path, objective, dataset: Dataset, predictions: np.ndarray, n: int = 8) -> list[pathlib.Path]:
    """Predictions vs truth on the first `n` images, and the target kind's own pictures (a classifier's
    confusion matrix)."""
    folder = workdir / PICTURES
    folder.mkdir(parents=True, exist_ok=True)
    count = min(n, len(dataset))
    tiles = []
    for i in range(count):
        tile = objective.picture(dataset.records[i], predictions[i])
        tile.thumbnail((320, 320))  # real photos can be megapixels; a sheet of them need not be
        tiles.append(tile)
    viz.contact_sheet(tiles, cols=min(4, count), path=folder / "predictions.png")
    return [folder / "predictions.png", *objective.extra_pictures(folder, predictions, dataset)]
