"""Load what a finished (or running) training left in its workdir: its assembly and best variables."""

from __future__ import annotations

import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxres.config import defaults, parse_value, set_path
from jaxres.config.checks import WORKDIR_REQUIRED, check_config
from jaxres.errors import ConfigError, UserError
from jaxres.train import assembly
from jaxres.train import workdir as workdir_files
from jaxres.train.checkpoint import Checkpoints


def best(workdir: str | pathlib.Path, overrides=None) -> tuple[assembly.Assembly, dict, int]:
    """(assembly, variables, step) of the workdir's best checkpoint (else its latest), with `overrides` of its
    inference keys; a damaged step is skipped for the next intact one and named on stderr."""
    workdir = pathlib.Path(workdir)
    if not str(workdir).strip() or (workdir.exists() and not workdir.is_dir()):
        raise UserError("--workdir must be a training's folder", where=str(workdir) or "--workdir")
    built = workdir_assembly(workdir, overrides)
    directory = workdir_files.checkpoint_dir(workdir)
    if not directory.is_dir():
        raise UserError("holds no checkpoint yet; train first", where=str(workdir))
    try:
        checkpoints = Checkpoints(directory, best_metric=built.config["checkpoint"]["best_metric"],
                                  best_mode=built.config["checkpoint"]["best_mode"], async_save=False)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001
        raise UserError(f"unreadable checkpoint folder ({type(err).__name__}: {err}); train again into a new "
                        "--workdir", where=str(directory)) from None
    try:
        steps = checkpoints.all_steps()[::-1]
        try:
            first = checkpoints.best_step()
        except Exception:  # noqa: BLE001 - a damaged metrics file: newest first
            first = None
        steps = ([first] if first in steps else []) + [s for s in steps if s != first]
        step, variables = checkpoints.first_intact(steps, lambda s: _restore_variables(directory / str(s) / "state"))
    finally:
        checkpoints.close()
    return built, variables, step


# Keys that change how a trained model is applied, not the model: the only ones eval, predict, export
# and jaxres.load take (--set); any other would describe a model the checkpoint is not.
INFERENCE_KEYS = ("objective.flip_test",)


def overrides_of(args) -> dict:
    """{dotted key: value} of a command's --set KEY=VALUE options."""
    out = {}
    for item in getattr(args, "set", None) or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes key=value, got {item!r}")
        out[key.strip()] = parse_value(text.strip())
    return out


def workdir_assembly(workdir: pathlib.Path, overrides=None) -> assembly.Assembly:
    """The assembly a workdir was trained with: its config.json (completed with the defaults, so a
    key added since it was trained reads its default), `overrides` of INFERENCE_KEYS, its data facts."""
    where = str(workdir / workdir_files.CONFIG_FILE)
    saved = check_config(workdir_files.load_config(workdir), where=where, required=WORKDIR_REQUIRED)
    facts = workdir_files.load_facts(workdir, saved)
    config = defaults.complete(workdir_files.without_facts(saved))
    for key, value in dict(overrides or {}).items():
        if key not in INFERENCE_KEYS:
            raise ConfigError(f"--set {key}: a trained model takes only {', '.join(INFERENCE_KEYS)} "
                              "(the others describe the training)")
        set_path(config, key, value)
    return assembly.build(config, facts)


def _restore_variables(path: pathlib.Path) -> dict:
    """The weights to evaluate: the moving average when the run kept one (`optim.ema_epochs`), else
    params and batch_stats; evaluation needs neither optimizer state nor RNG."""
    if not path.is_dir():
        raise FileNotFoundError(f"no state folder {path.name}")
    restored = ocp.StandardCheckpointer().restore(path.resolve())
    chosen = restored.get("ema") or {"params": restored["params"], "batch_stats": restored["batch_stats"]}
    variables = jax.device_get({"params": chosen["params"], "batch_stats": chosen.get("batch_stats", {})})
    if not all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree_util.tree_leaves(variables)):
        raise ValueError("holds NaN or infinity")
    return variables
