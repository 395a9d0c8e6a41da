"""Load what a finished (or running) training left in its workdir: config, model, best variables."""

from __future__ import annotations

import pathlib

import jax
import orbax.checkpoint as ocp

from jaxres import experiment
from jaxres.errors import UserError
from jaxres.train.checkpoint import Checkpoints

CHECKPOINTS = "checkpoints"


def checkpoint_dir(workdir: pathlib.Path) -> pathlib.Path:
    return workdir.resolve() / CHECKPOINTS


def load_trained(workdir: str | pathlib.Path):
    """(config, model, objective, variables) of the workdir's best checkpoint (else its latest)."""
    workdir = pathlib.Path(workdir)
    config = experiment.load_workdir_config(workdir)
    model = experiment.build_model(config)
    objective = experiment.build_objective(config)
    directory = checkpoint_dir(workdir)
    if not directory.is_dir():
        raise UserError("holds no checkpoint yet; train first", where=str(workdir))
    manager = Checkpoints(directory, best_metric=config["checkpoint"].get("best_metric"),
                          best_mode=config["checkpoint"].get("best_mode", "max"), async_save=False)
    try:
        step = manager.best_step() or manager.latest_step()
        if step is None:
            raise UserError("holds no complete checkpoint; train first", where=str(workdir))
        variables = _restore_variables(directory / str(step) / "state")
    finally:
        manager.close()
    return config, model, objective, variables


def _restore_variables(path: pathlib.Path) -> dict:
    """Only params and batch_stats: evaluation needs neither optimizer state nor RNG."""
    restored = ocp.StandardCheckpointer().restore(path.resolve())
    return jax.device_get({"params": restored["params"], "batch_stats": restored["batch_stats"]})
