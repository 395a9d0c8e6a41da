"""Checkpoints with orbax: the train state plus the config, data position and metrics beside it.

One step directory holds four items (orbax composite): `state` (StandardSave, every array of the
TrainState), and `config`, `position` ({"epoch", "batch"}: the next batch to train on) and
`metrics` as JSON. Saves are asynchronous when `async_save` (the loop chooses: `loop.async_saves`);
kept are the last `keep` steps plus the best one by a chosen metric. A state is checked for
finiteness on device before it is written, so a NaN state can never become "latest" or "best".
"""

from __future__ import annotations

import errno
import math
import os
import pathlib
from typing import Any, NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from jaxres.errors import ConfigError, UserError
from jaxres.train import parallel
from jaxres.train import state as state_lib

ITEMS = ("state", "config", "position", "metrics")


class Restored(NamedTuple):
    step: int
    state: Any
    position: dict  # {"epoch": int, "batch": int, ...}
    config: dict
    metrics: dict


class Checkpoints:
    """The checkpoints of one run, in `<directory>/<step>/`."""

    def __init__(self, directory: str | os.PathLike, *, keep: int = 2, best_metric: str | None = None,
                 best_mode: str = "max", async_save: bool = True):
        if best_mode not in ("min", "max"):
            raise ConfigError(f"checkpoint.best_mode {best_mode!r} is not 'min' or 'max'")
        self.directory = pathlib.Path(directory).expanduser().resolve()
        self.best_metric, self.best_mode = best_metric, best_mode
        self.async_save = async_save
        score = self._score
        keep_policy: list = [policies.LatestN(n=max(int(keep), 1))]
        if best_metric:
            keep_policy.append(policies.BestN(get_metric_fn=score, n=1,
                                              keep_checkpoints_without_metrics=False))
        options = ocp.CheckpointManagerOptions(
            enable_async_checkpointing=async_save,
            preservation_policy=policies.AnyPreservationPolicy(keep_policy),
            best_fn=score if best_metric else None,
            best_mode="max",  # `score` already negates a "min" metric
            # A save killed mid-write leaves its temporary directory; orbax never takes it as a step,
            # and the workdir lock means no other writer can own it, so it is removed on start.
            cleanup_tmp_directories=True,
        )
        handlers = {"state": ocp.StandardCheckpointHandler(), **{k: ocp.JsonCheckpointHandler() for k in ITEMS[1:]}}
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)

    def _score(self, metrics: dict) -> float:
        """Higher is better; a missing or non-finite metric ranks last."""
        value = (metrics or {}).get(self.best_metric)
        if value is None or not math.isfinite(float(value)):
            return -math.inf
        return float(value) if self.best_mode == "max" else -float(value)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def best_step(self) -> int | None:
        return self._manager.best_step() if self.best_metric else self.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, state, *, position: dict, config: dict, metrics: dict | None = None, wait: bool = False) -> bool:
        """Write `state` at its step; False (and nothing written) when any of its values is not finite.

        Every process must call this (orbax coordinates who writes what). A step that already
        exists (saved mid-epoch, then again after evaluation) is replaced.
        """
        if not bool(parallel.to_host(state_lib.all_finite(state))):
            return False
        step = int(parallel.to_host(state.step))
        if step in self._manager.all_steps():
            self._manager.wait_until_finished()
            self._manager.delete(step)
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            config=ocp.args.JsonSave(jsonable(config)),
            position=ocp.args.JsonSave(jsonable(position)),
            metrics=ocp.args.JsonSave(jsonable(metrics or {})),
        )
        best = jsonable(metrics) if metrics and self.best_metric in metrics else None
        try:
            self._manager.save(step, args=args, metrics=best, force=True)
            if wait:
                self._manager.wait_until_finished()
        except Exception as err:  # noqa: BLE001 - only a full or read-only disk is the user's to fix
            raise _write_failed(err, self.directory, self.latest_step()) or err
        return True

    def read_json(self, step: int, item: str) -> dict:
        """One JSON item of a step (config, position or metrics), without touching the arrays."""
        return self._manager.restore(step, args=ocp.args.Composite(**{item: ocp.args.JsonRestore()}))[item]

    def restore(self, like, step: int | None = None, config: dict | None = None) -> Restored:
        """The state at `step` (default: latest), laid out like `like` (a state or `state.abstract`).

        With `config`, a checkpoint whose arrays do not fit `like` is refused with a `ConfigError`
        that names the config keys that changed and the first mismatching arrays.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        self._manager.wait_until_finished()
        target = state_lib.abstract(like)
        try:
            self._check_shapes(step, target, config)
            items = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target), config=ocp.args.JsonRestore(),
                position=ocp.args.JsonRestore(), metrics=ocp.args.JsonRestore()))
        except UserError:
            raise
        except Exception as err:  # noqa: BLE001 - orbax/tensorstore/OS errors on a step's files: damaged
            raise self._damaged(step, err) from err
        return Restored(step, items["state"], dict(items["position"]), dict(items["config"]),
                        dict(items["metrics"] or {}))

    def _damaged(self, step: int, err: Exception) -> UserError:
        """One line naming the damaged step and the intact-looking one before it, if any."""
        earlier = [s for s in self.all_steps() if s < step]
        fix = (f"move {self.directory / str(step)} away to resume from step {earlier[-1]}" if earlier
               else "train into a new --workdir (or delete the checkpoints folder to start over)")
        detail = (str(err).splitlines() or [""])[0][:160]
        return UserError(f"checkpoint step {step} is damaged ({type(err).__name__}: {detail}); {fix}",
                         where=str(self.directory / str(step)))

    def _check_shapes(self, step: int, target, config: dict | None) -> None:
        saved = flat_shapes(self._manager.item_metadata(step)["state"])
        wanted = flat_shapes(target)
        differing = sorted((k for k in saved.keys() | wanted.keys() if saved.get(k) != wanted.get(k)),
                           key=lambda k: (not k.startswith("params/"), k))  # the model's own arrays first
        if not differing:
            return
        arrays = "; ".join(f"{k}: {saved.get(k, 'absent')} in the checkpoint, {wanted.get(k, 'absent')} now"
                           for k in differing[:2])
        changed = config_diff(self.read_json(step, "config"), config) if config is not None else None
        keys = "not compared" if changed is None else (", ".join(changed) or "none")
        raise ConfigError(
            f"the checkpoint at step {step} does not fit this model/optimizer (changed config keys: {keys}; "
            f"{len(differing)} arrays differ, e.g. {arrays}); restore those settings or use a new workdir",
            where=str(self.directory),
        )

    def saving(self) -> bool:
        """Whether an asynchronous save is still being written."""
        return self._manager.is_saving_in_progress()

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


def _write_failed(err: Exception, directory: pathlib.Path, last: int | None) -> UserError | None:
    """A UserError for a save that failed on a full or read-only disk (the OSError may be wrapped by
    orbax or tensorstore); None for anything else."""
    text = f"{err} {err.__cause__ or ''}"
    known = isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES)
    if not (known or "No space left" in text or "Read-only file system" in text):
        return None
    resume = f"step {last}" if last is not None else "the start (no checkpoint was written)"
    return UserError(f"cannot write a checkpoint ({(str(err).splitlines() or [''])[0][:120]}); free space or "
                     f"make it writable, then run the same train command to resume from {resume}",
                     where=str(directory))


def flat_shapes(tree) -> dict[str, tuple]:
    """{"params/fc/kernel": shape} for a state, an abstract state or orbax's tree metadata."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(_key_name(k) for k in path): tuple(leaf.shape) for path, leaf in leaves}


def _key_name(key) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def config_diff(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config dicts."""
    saved, current = jsonable(saved), jsonable(current)
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for key in sorted(saved.keys() | current.keys()):
            out += config_diff(saved.get(key), current.get(key), f"{prefix}{key}.")
        return out
    return [] if saved == current else [prefix.rstrip(".") or "<root>"]


def jsonable(value: Any) -> Any:
    """`value` with tuples as lists, numpy scalars as Python numbers and other objects as strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)) or hasattr(value, "__jax_array__") or isinstance(value, jax.Array):
        return jsonable(np.asarray(value).tolist())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
