"""Checkpoints with orbax: per step the train state and, as JSON, the config, data position and metrics;
the last `keep` and the best are kept, and a non-finite state is never written. Each step is sealed
with its files' SHA-256 and verified before reading (orbax misses same-size damage); a damaged step
is skipped (`Checkpoints.first_intact`, every reader's one rule) and, on resume, set aside as `<step>.damaged`."""

from __future__ import annotations

import errno
import gc
import json
import logging
import math
import os
import pathlib
import sys
import threading
import traceback
from typing import Any, Callable, NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from jaxres.platform import files
from jaxres.errors import ConfigError, UserError
from jaxres.train import parallel
from jaxres.train import state as state_lib

ITEMS = ("state", "config", "position", "metrics")
DIGEST_FILE = "jaxres_digest.json"


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
        keep_policy = [policies.LatestN(n=max(int(keep), 1))] + ([policies.BestN(
            get_metric_fn=self._score, n=1, keep_checkpoints_without_metrics=False)] if best_metric else [])
        self._unsealed: list[int] = []  # steps this instance saved whose digest is not written yet
        self._sealing = threading.Lock()
        options = ocp.CheckpointManagerOptions(
            enable_async_checkpointing=async_save,
            async_options=ocp.AsyncOptions(post_finalization_callback=self._seal_committed) if async_save else None,
            preservation_policy=policies.AnyPreservationPolicy(keep_policy),
            best_fn=self._score if best_metric else None,
            best_mode="max",  # `_score` already negates a "min" metric
            # A save killed mid-write leaves its temporary directory; orbax never takes it as a step,
            # and the workdir lock means no other writer can own it, so it is removed on start.
            cleanup_tmp_directories=True,
        )
        handlers = {"state": ocp.StandardCheckpointHandler(), **{k: ocp.JsonCheckpointHandler() for k in ITEMS[1:]}}
        self._quiet = quiet().__enter__()  # until close: orbax's reports of a failed write are one line of ours
        try:
            self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)
        except BaseException:
            self._quiet.__exit__(None, None, None)
            raise

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
        """Write `state` at its step (replacing one already there); False, writing nothing, when any value is
        not finite. Every process must call it."""
        if not bool(parallel.to_host(state_lib.all_finite(state))):
            return False
        step = int(parallel.to_host(state.step))
        if step in self._manager.all_steps():
            self._manager.wait_until_finished()
            self._manager.delete(step)
        json_items = {"config": config, "position": position, "metrics": metrics or {}}
        args = ocp.args.Composite(state=ocp.args.StandardSave(state),
                                  **{k: ocp.args.JsonSave(jsonable(v)) for k, v in json_items.items()})
        best = jsonable(metrics) if metrics and self.best_metric in metrics else None
        with self._sealing:
            self._unsealed.append(step)
        try:
            self._manager.save(step, args=args, metrics=best, force=True)
            if wait or not self.async_save:
                self._manager.wait_until_finished()
                self._seal_committed()
        except Exception as err:  # noqa: BLE001 - only a full or read-only disk is the user's to fix
            failed = _write_failed(err, self.directory, self.latest_step())
            if failed is None:
                raise
            quiet().__enter__()  # orbax's writers fail in the background until the process ends: for good
            gc.collect()
            raise failed from None
        return True

    def _seal_committed(self) -> None:
        """Write the digest of every step this instance saved that orbax has committed (renamed into its
        final folder), after a synchronous save or when an asynchronous one is finalised."""
        if not parallel.is_primary():
            return
        with self._sealing:
            for step in [s for s in self._unsealed if (self.directory / str(s)).is_dir()]:
                seal(self.directory / str(step))
                self._unsealed.remove(step)

    def read_json(self, step: int, item: str) -> dict:
        """One JSON item of a step (config, position or metrics), without touching the arrays."""
        return self._manager.restore(step, args=ocp.args.Composite(**{item: ocp.args.JsonRestore()}))[item]

    def restore(self, like, config: dict | None = None) -> Restored:
        """The newest intact state laid out like `like`, newer damaged steps set aside; with `config`, arrays
        that do not fit are a ConfigError naming the changed keys."""
        self._manager.wait_until_finished()
        target = state_lib.abstract(like)

        def read(step: int) -> Restored:
            self._check_shapes(step, target, config)
            items = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target), **{k: ocp.args.JsonRestore() for k in ITEMS[1:]}))
            return Restored(step, items["state"], dict(items["position"]), dict(items["config"]),
                            dict(items["metrics"] or {}))

        return self.first_intact(self.all_steps()[::-1], read, set_aside=True)[1]

    def first_intact(self, steps: list[int], read: Callable[[int], Any], *, set_aside: bool = False,
                     report: bool = True) -> tuple[int, Any]:
        """(step, read(step)) for the first of `steps` whose files match their digest (one saved before digests
        existed has none) and that `read` reads without an error. A damaged step is named on stderr (`report`)
        and, with `set_aside` (resume), renamed `<step>.damaged` so that no later run tries it."""
        if not steps:
            raise UserError("holds no complete checkpoint; train first", where=str(self.directory.parent))
        damaged = []
        for step in steps:
            reason = verify(self.directory / str(step))
            if reason is None:
                try:
                    with quiet():
                        value = read(step)
                except UserError:
                    raise
                except Exception as err:  # noqa: BLE001 - orbax, tensorstore and OS errors on its files: damaged
                    reason = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:160]}"
            if reason is not None:
                damaged.append((step, reason))
                continue
            if report and parallel.is_primary():  # one process renames; every process skips them
                for bad, why in damaged:
                    folder = self.directory / str(bad)
                    done = f"set aside as {_set_aside(folder)}" if set_aside else f"skipped {folder}"
                    print(f"warning: checkpoint step {bad} is damaged ({why}); {done}, "
                          f"{'resuming from' if set_aside else 'using'} step {step}", file=sys.stderr, flush=True)
            if damaged and set_aside:
                self._manager.reload()
            return step, value
        step, reason = damaged[0]
        raise UserError(f"every checkpoint is damaged, the first tried: {self.directory / str(step)} ({reason}); "
                        f"train into a new --workdir (or delete {self.directory} to start over)",
                        where=str(self.directory))

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
        raise ConfigError(f"the checkpoint at step {step} does not fit this model/optimizer (changed config keys: "
                          f"{keys}; {len(differing)} arrays differ, e.g. {arrays}); restore those settings or use a "
                          "new workdir", where=str(self.directory))

    def saving(self) -> bool:
        """Whether an asynchronous save is still being written."""
        return self._manager.is_saving_in_progress()

    def wait(self) -> None:
        self._manager.wait_until_finished()
        self._seal_committed()

    def close(self) -> None:
        try:
            self.wait()
            self._manager.close()
        finally:
            self._quiet.__exit__(None, None, None)


def seal(folder: pathlib.Path) -> None:
    """Write `folder`'s digest: the SHA-256 of each of its files, by path inside it."""
    files.write_text(folder / DIGEST_FILE, json.dumps({"sha256": _digests(folder)}, indent=1, sort_keys=True))


def verify(folder: pathlib.Path) -> str | None:
    """None when `folder`'s files are those its digest names, byte for byte (or it has no digest:
    written before digests existed); else what differs, in a few words."""
    path = folder / DIGEST_FILE
    if not path.exists():
        return None if folder.is_dir() else "its folder is missing"
    try:
        expected = json.loads(path.read_bytes())["sha256"]
        assert isinstance(expected, dict)
    except Exception:  # noqa: BLE001 - an unreadable digest is as damaged as a file that fails it
        return f"its {DIGEST_FILE} is unreadable"
    found = _digests(folder)
    for name in sorted(expected.keys() | found.keys()):
        if name not in found:
            return f"{name} is missing"
        if expected.get(name) != found[name]:
            return f"{name} differs from its checksum" if name in expected else f"{name} was not saved with it"
    return None


def _digests(folder: pathlib.Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): files.sha256(path) for path in sorted(folder.rglob("*"))
            if path.is_file() and path.name != DIGEST_FILE and not path.name.startswith(f".{DIGEST_FILE}.")}


def _set_aside(folder: pathlib.Path) -> pathlib.Path:
    """Rename a damaged step folder to `<step>.damaged` (or `.damaged-N`), a name orbax never reads."""
    target, n = folder.with_name(folder.name + ".damaged"), 1
    while target.exists():
        n += 1
        target = folder.with_name(f"{folder.name}.damaged-{n}")
    folder.rename(target)
    return target


class quiet:
    """Keep orbax's, absl's and asyncio's (or the named loggers') reports and unraisable-hook noise off stderr
    while a checkpoint is read or written: a failure becomes one line from the caller."""

    def __init__(self, loggers=("absl", "orbax", "asyncio")):
        self._loggers = [logging.getLogger(name) for name in loggers]

    def __enter__(self) -> "quiet":
        self._levels = [logger.level for logger in self._loggers]
        for logger in self._loggers:
            logger.setLevel(logging.CRITICAL + 1)
        self._hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        return self

    def _unraisable(self, unraisable) -> None:
        names = [frame.filename for frame, _ in traceback.walk_tb(unraisable.exc_traceback)] + [repr(unraisable.object)]
        closed = isinstance(unraisable.exc_value, RuntimeError) and "Event loop is closed" in str(unraisable.exc_value)
        if not closed and not any(part in name for name in names for part in ("orbax", "tensorstore", "asyncio")):
            self._hook(unraisable)

    def __exit__(self, kind, error, trace) -> None:
        if trace is not None:  # what the error holds (orbax's writers) is collected while still quiet
            traceback.clear_frames(trace)
            gc.collect()
        if sys.unraisablehook == self._unraisable:
            sys.unraisablehook = self._hook
        for logger, level in zip(self._loggers, self._levels):
            logger.setLevel(level)


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
    return {jax.tree_util.keystr(path, simple=True, separator="/"): tuple(leaf.shape) for path, leaf in leaves}


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
