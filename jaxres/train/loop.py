"""`fit`: epochs of batches through a compiled train step, with checkpoints, logs, clean stops between
steps and bit-identical resume (state, RNG and data position)."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import pathlib
import sys
import time
from typing import IO, Any, Callable, Iterator

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxres.config import defaults
from jaxres.errors import ConfigError
from jaxres.platform import HostHooks
from jaxres.train import parallel
from jaxres.train.checkpoint import Checkpoints, config_diff, jsonable
from jaxres.train.workdir import WorkdirLock, checkpoint_dir
from jaxres.train.progress import MetricsLog, Progress, RunClock, Timed
from jaxres.train.signals import StopRequest
from jaxres.train.steps import empty_metrics
from jaxres.train.tensorboard import Board
from jaxres.viz import NOT_CHARTED


class NonFiniteLoss(RuntimeError):
    """The loss (or the state) stopped being finite; nothing from that point was saved."""

    def __init__(self, step: int, epoch: int, last_good: int | None, directory: pathlib.Path):
        self.step, self.epoch, self.last_good, self.directory = step, epoch, last_good, directory
        good = f"step {last_good} in {directory}" if last_good is not None else "none (no checkpoint was saved)"
        super().__init__(f"loss became non-finite at step {step} (epoch {epoch + 1}); last good checkpoint: {good}. "
                         "Lower optim.lr or set optim.clip_norm; running train again resumes from the last good "
                         "checkpoint")


@dataclasses.dataclass
class FitResult:
    state: Any
    step: int
    position: dict  # {"epoch", "batch"}: where the next run would continue
    workdir: pathlib.Path
    best_step: int | None
    history: list[dict]  # the records of metrics.jsonl
    # host copies of the variables (`state.variables()`) of `best_step`, when this call trained that
    # step; None when it was trained before a resume (its checkpoint holds it)
    best_variables: Any = None


@dataclasses.dataclass
class Completed(FitResult):
    pass


@dataclasses.dataclass
class Preempted(FitResult):
    signal: str = ""

    @property
    def message(self) -> str:
        return (f"{self.signal} received: stopped after step {self.step} (epoch {self.position['epoch'] + 1}, "
                f"batch {self.position['batch']}); checkpoint saved in {self.workdir / 'checkpoints'}; "
                "run the same train command with the same --workdir to resume")


@dataclasses.dataclass
class _Run:
    """What every part of one `fit` call shares."""

    train_step: Callable
    batches: Callable[[int, int], Iterator]
    steps_per_epoch: int
    config: dict
    train: dict
    ckpt: dict
    workdir: pathlib.Path
    checkpoints: Checkpoints
    log: MetricsLog
    stop: StopRequest
    frozen_at_epoch: Callable[[int], tuple]
    learning_rate: Callable[[int], Any] | None
    stream: IO[str]
    data_stats: Any = None  # the loader's PipelineStats: its wait share is logged per interval and epoch
    epoch_wait: list = dataclasses.field(default_factory=lambda: [0.0, 0.0])  # this epoch's (wait_s, total_s)
    clock: RunClock | None = None
    host: HostHooks | None = None  # the platform's host-side work at the loop's points (heap trims)
    best: tuple = (None, None)  # (step, host variables) of the best checkpoint this call saved
    compiled: set = dataclasses.field(default_factory=set)  # the frozen sets whose step this call compiled
    evaluated: bool = False  # whether this call ran (and so compiled) the evaluation


def fit(state, train_step, batches, *, steps_per_epoch: int, config: dict, workdir, frozen_at_epoch=None,
        evaluate: Callable[[Any], dict] | None = None, learning_rate: Callable[[int], Any] | None = None,
        stream: IO[str] | None = None, data_stats=None, board: Board | None = None) -> FitResult:
    """Train `state` for `train.epochs` epochs in `workdir`, resuming what is there; returns `Completed`
    or `Preempted` (signal: step finished, checkpoint saved), raises `NonFiniteLoss`, `ConfigError`
    (checkpoint does not fit) or `UserError` (workdir in use)."""
    workdir = pathlib.Path(workdir).expanduser().resolve()
    train, ckpt = defaults.section(config, "train"), defaults.section(config, "checkpoint")
    with contextlib.ExitStack() as cleanup:
        if parallel.is_primary():
            cleanup.enter_context(WorkdirLock(workdir))
        checkpoints = Checkpoints(checkpoint_dir(workdir), keep=ckpt["keep"], best_metric=ckpt["best_metric"],
                                  best_mode=ckpt["best_mode"], async_save=async_saves(ckpt["async"]))
        cleanup.callback(checkpoints.close)  # waits for the last asynchronous save
        stop = cleanup.enter_context(StopRequest())
        if board is None:
            board = Board(workdir, enabled=parallel.is_primary() and bool(train["tensorboard"]))
            cleanup.callback(board.close)
        log = MetricsLog(workdir / "metrics.jsonl", parallel.is_primary(), sinks=(board.record,))
        run = _Run(train_step, batches, int(steps_per_epoch), config, train, ckpt, workdir, checkpoints, log, stop,
                   frozen_at_epoch or (lambda epoch: ()), learning_rate, stream or sys.stdout, data_stats,
                   host=HostHooks(checkpoints.saving))
        state, position = _resume(run, state)
        return _epochs(run, state, position, evaluate)


def async_saves(setting) -> bool:
    """`checkpoint.async`: true, false, or None for asynchronous saves on accelerators only (on CPU the writer
    competes for the cores and keeps memory high)."""
    if setting is None:
        return jax.default_backend() != "cpu"
    if isinstance(setting, bool):
        return setting
    raise ConfigError(f"config key 'checkpoint.async' takes true, false or None, got {setting!r}")


def _resume(run: _Run, state):
    """The latest checkpoint's state and position, or the given state at (epoch 0, batch 0)."""
    if run.checkpoints.latest_step() is None:
        return state, _start(0)
    restored = run.checkpoints.restore(state, config=run.config)
    changed = config_diff(restored.config, run.config)
    note = f" (config changed: {', '.join(changed)})" if changed else ""
    if restored.position["epoch"] >= run.train["epochs"]:
        _say(run, f"nothing to train: the checkpoint at step {restored.step} has completed "
                  f"{restored.position['epoch']} epochs{note}")
    else:
        _say(run, f"resuming from step {restored.step}: epoch {restored.position['epoch'] + 1}, "
                  f"batch {restored.position['batch']}{note}")
    return restored.state, {**_start(0), **restored.position}


def _epochs(run: _Run, state, position: dict, evaluate) -> FitResult:
    run.clock = RunClock(run.train["epochs"] * run.steps_per_epoch)
    for epoch in range(position["epoch"], run.train["epochs"]):
        state, position, stop = _train_epoch(run, state, position if epoch == position["epoch"] else _start(epoch))
        if stop and position["batch"] < run.steps_per_epoch:
            return _preempted(run, state, position)
        state, position = _end_epoch(run, state, position, evaluate)
        if stop or _stop_agreed(run, at_log=True):
            return _preempted(run, state, position, saved=True)
    run.checkpoints.wait()
    run.host.saves_done()
    history = run.log.read()
    best_step = run.checkpoints.best_step()
    return Completed(state, _step(state), position, run.workdir, best_step, history, _best_variables(run, state, best_step))


def _start(epoch: int) -> dict:
    return {"epoch": epoch, "batch": 0, "loss_sum": 0.0, "loss_steps": 0}


def _train_epoch(run: _Run, state, position: dict):
    """Steps from `position` to the end of its epoch or to an agreed stop: (state, position, stopped)."""
    epoch, first, spe = position["epoch"], position["batch"], run.steps_per_epoch
    frozen = tuple(run.frozen_at_epoch(epoch))
    progress = Progress(epoch, run.train["epochs"], spe, stream=run.stream, enabled=parallel.is_primary(),
                        clock=run.clock)
    interval = _Interval(empty_metrics(state.step.sharding), _step(state))  # the epoch's one sync before its steps
    position = dict(position)
    for done, batch in enumerate(itertools.islice(run.batches(epoch, first), max(spe - first, 0)), start=first + 1):
        # the first step of a frozen set compiles (execution is asynchronous): minutes at 224 px on a CPU
        with Timed("compiling the train step" + (f" (frozen: {', '.join(frozen)})" if frozen else ""), run.stream,
                   enabled=parallel.is_primary() and frozen not in run.compiled):
            state, interval.metrics = run.train_step(state, batch, interval.metrics, frozen)
        run.compiled.add(frozen)
        run.host.step_done()
        interval.stepped(first_of_epoch=done == first + 1)
        position["batch"] = done
        at_log = done % run.train["log_every"] == 0 or done == spe
        stop = _stop_agreed(run, at_log)
        if at_log or stop:
            _log_interval(run, interval, position, progress)
        if stop:
            return state, position, True
        every = int(run.ckpt["every_steps"] or 0)
        if every > 0 and done < spe and interval.step % every == 0:
            if interval.pending:  # read the loss first, so a non-finite step is named exactly
                _log_interval(run, interval, position, progress)
            _save(run, state, position, step=interval.step)
    if interval.pending:  # the batches ran out before steps_per_epoch
        _log_interval(run, interval, position, progress)
    progress.close(f"loss {position['loss_sum'] / max(position['loss_steps'], 1):.4f}")
    return state, position, False


@dataclasses.dataclass
class _Interval:
    """The current log interval, counted on the host so that no step waits for the device."""

    metrics: dict
    step: int  # the state's step after the last dispatched train step
    pending: int = 0  # steps not yet logged
    timed: int = 0  # steps since `since` (the epoch's first step, which may compile, is not timed)
    since: float = 0.0

    def stepped(self, first_of_epoch: bool) -> None:
        self.step += 1
        self.pending += 1
        if first_of_epoch:
            self.timed, self.since = 0, time.perf_counter()
        else:
            self.timed += 1


def _stop_agreed(run: _Run, at_log: bool) -> bool:
    """Whether to stop now. Several processes must agree (else a collective would hang), so they
    compare their flags at log intervals; a single process reacts after the very next step."""
    if jax.process_count() == 1:
        return run.stop.requested
    if not at_log:
        return False
    return bool(np.any(multihost_utils.process_allgather(np.int32(run.stop.requested))))


def _log_interval(run: _Run, interval: _Interval, position: dict, progress: Progress) -> None:
    """Read the accumulator (the one host sync per interval), check it, log it, start a new one."""
    host = parallel.to_host(interval.metrics)
    if int(host["nonfinite_step"]) >= 0:
        _raise_nonfinite(run, int(host["nonfinite_step"]) + 1, position["epoch"])
    steps = int(host["steps"])
    loss = float(host["loss_sum"]) / max(steps, 1)
    position["loss_sum"] += float(host["loss_sum"])
    position["loss_steps"] += steps
    elapsed = time.perf_counter() - interval.since
    images_per_s = interval.timed * run.train["batch_size"] / elapsed if elapsed > 0 and interval.timed else 0.0
    record = {"step": interval.step, "epoch": position["epoch"] + 1, "split": "train", "loss": loss,
              "images_per_s": round(images_per_s, 2)}
    if run.learning_rate is not None:
        record["lr"] = jsonable(run.learning_rate(interval.step - 1))
    if run.data_stats is not None:
        record["data_wait"] = round(float(run.data_stats.wait_fraction), 4)
        run.epoch_wait[0] += run.data_stats.wait_s
        run.epoch_wait[1] += run.data_stats.total_s
        run.data_stats.reset()
    run.log.append(record)
    progress.update(position["batch"], loss, images_per_s)
    interval.metrics, interval.pending = empty_metrics(interval.metrics["steps"].sharding), 0
    interval.timed, interval.since = 0, time.perf_counter()


def _end_epoch(run: _Run, state, position: dict, evaluate):
    """Evaluate, log, save with the metrics; the position moves to the next epoch's first batch."""
    epoch = position["epoch"]
    metrics = {"train_loss": position["loss_sum"] / max(position["loss_steps"], 1)}
    if evaluate is not None:
        with Timed("validating (compiling the eval step first)", run.stream,
                   enabled=parallel.is_primary() and not run.evaluated):
            metrics.update(jsonable(evaluate(state)))  # plain JSON data: device arrays read back
        run.evaluated = True
        run.log.append({"step": _step(state), "epoch": epoch + 1, "split": "val",
                        **{k: v for k, v in metrics.items() if k != "train_loss"}})
        _say(run, f"epoch {epoch + 1} eval: {_summary(metrics, run.ckpt['best_metric'])}")
    if run.data_stats is not None and run.epoch_wait[1] > 0:
        # the epoch's share of step time spent waiting for the input pipeline, beside its intervals'
        run.log.append({"step": _step(state), "epoch": epoch + 1, "split": "epoch",
                        "data_wait": round(run.epoch_wait[0] / run.epoch_wait[1], 4)})
    run.epoch_wait = [0.0, 0.0]
    position = _start(epoch + 1)
    _save(run, state, position, metrics)
    _keep_if_best(run, state)
    run.host.epoch_end()
    return state, position


def _save(run: _Run, state, position: dict, metrics: dict | None = None, wait: bool = False,
          step: int | None = None) -> None:
    with run.stop.saving():
        saved = run.checkpoints.save(state, position=position, config=run.config, metrics=metrics, wait=wait)
    if not saved:
        _raise_nonfinite(run, _step(state) if step is None else step, position["epoch"])
    run.host.save_started(background=run.checkpoints.async_save)


def _keep_if_best(run: _Run, state) -> None:
    """A host copy of the variables just saved when they are the best so far by `checkpoint.best_metric`,
    so that the evaluation after training needs no checkpoint read (the last state is in memory anyway)."""
    step = _step(state)
    if run.ckpt["best_metric"] and run.checkpoints.best_step() == step and step != run.best[0]:
        run.best = (step, parallel.to_host(state.variables()))


def _best_variables(run: _Run, state, best_step: int | None):
    """Host copies of the best step's variables: the last state's, or those `_keep_if_best` kept."""
    if best_step == _step(state):
        return parallel.to_host(state.variables())
    return run.best[1] if run.best[0] == best_step else None


def _preempted(run: _Run, state, position: dict, saved: bool = False) -> Preempted:
    if saved:
        with run.stop.saving():
            run.checkpoints.wait()
    else:
        _save(run, state, position, wait=True)
    result = Preempted(state, _step(state), position, run.workdir, run.checkpoints.best_step(),
                       run.log.read(), signal=run.stop.name)
    _say(run, result.message)
    return result


def _raise_nonfinite(run: _Run, step: int, epoch: int):
    run.checkpoints.wait()
    raise NonFiniteLoss(step, epoch, run.checkpoints.latest_step(), run.checkpoints.directory)


def _step(state) -> int:
    return int(parallel.to_host(state.step))


def _summary(metrics: dict, first: str | None, most: int = 6) -> str:
    """A few scalar metrics for the console, the checkpoint's ranking metric first; the rest are in
    metrics.jsonl (a task may report many)."""
    names = [k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in NOT_CHARTED]
    names = sorted(names, key=lambda k: (k != first, k != "train_loss"))[:most]
    more = len([k for k in metrics if k not in NOT_CHARTED]) - len(names)
    return ", ".join(f"{k} {metrics[k]:.4g}" for k in names) + (f" (+{more} more in metrics.jsonl)" if more > 0 else "")


def _say(run: _Run, text: str) -> None:
    if parallel.is_primary():
        run.stream.write(text + "\n")
        run.stream.flush()
