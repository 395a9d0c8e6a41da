"""Run a model over a split and judge it (outputs -> original-pixel predictions -> metrics) in
fixed-size padded batches, one compilation."""

from __future__ import annotations

import pathlib

import numpy as np

from jaxres import viz
from jaxres.train.assembly import Assembly
from jaxres.data.records import Dataset
from jaxres.train import parallel

PICTURES = "pictures"


def _predict(built: Assembly, variables, dataset: Dataset, loader=None) -> tuple[np.ndarray, np.ndarray]:
    """(predictions in original pixels or class probabilities, each record's input matrix) for every record
    of `dataset`, in order."""
    loader = loader or built.eval_loader(dataset)
    outputs, matrices = [], []
    iterator = loader.epoch(0)
    try:
        for batch in iterator:
            mask = np.asarray(parallel.to_host(batch["mask"]), bool)
            out = built.forward(variables, {k: v for k, v in batch.items() if k not in ("matrix", "mask")})
            outputs.append(np.asarray(parallel.to_host(out))[mask])
            matrices.append(np.asarray(parallel.to_host(batch["matrix"]))[mask])
    finally:
        iterator.close()
    matrices = np.concatenate(matrices)
    return built.objective.decode(np.concatenate(outputs), {"matrix": matrices}), matrices


def metrics(built: Assembly, variables, dataset: Dataset, loader=None) -> dict:
    """The objective's metrics of the model on `dataset` (validation during training)."""
    return built.objective.evaluate(_predict(built, variables, dataset, loader)[0], dataset)


def evaluate(built: Assembly, variables, dataset: Dataset, train: Dataset, loader=None):
    """(metrics dict with a "baseline" entry, predictions in original pixels / probabilities)."""
    predicted, matrices = _predict(built, variables, dataset, loader)
    result = {"n": len(dataset), **built.objective.evaluate(predicted, dataset),
              "baseline": built.objective.baseline(train, dataset, matrices)}
    return result, predicted


def write_pictures(workdir: pathlib.Path, objective, dataset: Dataset, predicted: np.ndarray, n: int = 8) -> list[pathlib.Path]:
    """Predictions vs truth on the first `n` images, and the objective's own pictures (a confusion matrix)."""
    folder = workdir / PICTURES
    folder.mkdir(parents=True, exist_ok=True)
    count = min(n, len(dataset))
    tiles = []
    for i in range(count):
        tile = objective.picture(dataset.records[i], predicted[i])
        tile.thumbnail((320, 320))  # real photos can be megapixels; a sheet of them need not be
        tiles.append(tile)
    viz.contact_sheet(tiles, cols=min(4, count), path=folder / "predictions.png")
    return [folder / "predictions.png", *objective.extra_pictures(folder, predicted, dataset)]
