"""`train`: config -> splits -> assembly -> `fit` (resuming the workdir) -> evaluation, pictures, JSON."""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import sys

import jax
import numpy as np

from jaxres.cli.commands import guards
from jaxres.cli.commands.evaluate import print_result
from jaxres.cli.commands.report import config_changes, finish_run
from jaxres.cli.commands.resume import (absolute_data_path, damaged_resume, refuse_another_run, refuse_other_facts,
                                        resume_command, resume_point, saved_run)
from jaxres.cli.commands.splits import resolve_data_path, training_splits
from jaxres.config import apply_overrides, defaults, get_path, load_config_file, synthetic_overrides
from jaxres.config.checks import check_best_metric, check_config, check_process
from jaxres.errors import UserError
from jaxres.platform import devices
from jaxres.train import assembly, evaluation, parallel
from jaxres.train import workdir as workdir_files
from jaxres.train.loop import NonFiniteLoss, Preempted, fit
from jaxres.train.precision import resolve_dtype
from jaxres.train.restore import best
from jaxres.train.tensorboard import Board


def train(task, args) -> int:
    check_process(args.num_processes, args.process_id)
    workdir = guards.training_workdir(args.workdir, task.name, getattr(args, "force", False))
    saved = saved_run(workdir)
    config = check_config(build_config(task, args, saved), where=args.config)
    if saved is not None:
        refuse_another_run(task, workdir, saved, config)
    join_processes(args)
    _say(config_changes_text(task, config))
    if parallel.is_primary():
        guards.refuse_if_locked(workdir)
    path = resolve_data_path(task, config)
    splits = training_splits(task, path, config, args.skip_bad)  # every split, before the first step
    train_set, val_set = splits.train, splits.val
    built = assembly.for_training(config, train_set, mesh=parallel.make_mesh())
    if saved is not None:
        refuse_other_facts(task, workdir, saved, built)
    check_best_metric(config, metric_names(built, train_set, val_set))

    spe = assembly.steps_per_epoch(config, train_set, built.mesh)
    resumed = resume_point(workdir, spe, len(train_set), path) if saved is not None else None
    resuming = None if resumed is None else workdir_files.checkpoint_dir(workdir) / str(resumed)
    training = assembly.start_training(built, train_set, resuming=resuming, log=_say)
    loader = built.loader(train_set, train=True, log=_say)
    val_loader = built.eval_loader(val_set)
    # built (on the device path: decoded) now, not after training: an image whose body is damaged
    # fails before the first step; the final evaluation runs it
    eval_loader = val_loader if splits.eval is val_set else built.eval_loader(splits.eval, log=_say)
    # Only now: a refused run must not leave a config.json that a corrected run's resume check
    # would hold against it (a bad --weights or batch size is not a trained model.arch).
    save = lambda folder, cfg: workdir_files.save(folder, cfg, built.facts, task.name)  # noqa: E731
    if parallel.is_primary():
        guards.save_config_locked(workdir, config, save)
    else:
        save(workdir, config)
    _say(f"training {config['model']['arch']} on {len(train_set)} records ({len(val_set)} validation), "
         f"{config['train']['epochs']} epochs × {spe} steps of {config['train']['batch_size']} on "
         f"{devices.describe(jax.devices(), resolve_dtype(config['model']['dtype']))}")

    # one TensorBoard event file for the run: the curves during training, the pictures after it
    with contextlib.closing(Board(workdir, enabled=parallel.is_primary() and bool(config["train"]["tensorboard"]))) as board:
        try:
            result = fit(training.state, training.step, loader.epoch, steps_per_epoch=spe, config=config,
                         workdir=workdir, frozen_at_epoch=training.frozen_at_epoch, data_stats=loader.stats,
                         board=board, learning_rate=training.learning_rate,
                         evaluate=lambda current: evaluation.metrics(built, current.variables(), val_set, val_loader))
        except NonFiniteLoss as err:
            raise damaged_resume(err, resumed) or err
        if isinstance(result, Preempted):
            print(f"to resume: {resume_command(task, workdir)}", flush=True)
            return 0
        return _final_evaluation(workdir, built, splits, result, eval_loader, board)


def build_config(task, args, saved: dict | None = None) -> dict:
    """The run's config: --config, else the workdir's saved one, else the task's, over the defaults (with the
    synthetic overrides on no data), then --set and flags; `data.path` made absolute."""
    data_set = bool(args.data) or any(item.strip().startswith("data.path=") for item in args.set)
    if args.config:  # checked before any --set: a file that lacks a section is blamed on the file
        config = check_config(defaults.complete(load_config_file(args.config)), where=args.config)
    elif saved is not None:  # it holds its synthetic overrides and --set values already
        config = defaults.complete(workdir_files.without_facts(saved))
    else:
        config = defaults.complete(task.get_config())
    if args.config and saved is not None and not data_set:
        config["data"]["path"] = get_path(saved, "data.path")  # the run's data unless --data says otherwise
    if (args.config or saved is None) and not data_set and not config["data"]["path"]:
        config = apply_overrides(config, [f"{k}={v!r}" for k, v in synthetic_overrides(config).items()])
    flags = {"data.path": args.data, "model.weights": args.weights, "train.epochs": args.epochs,
             "train.batch_size": args.batch_size, "train.seed": args.seed}
    overrides = list(args.set) + [f"{k}={v!r}" for k, v in flags.items() if v is not None]
    config = apply_overrides(config, overrides)
    config["data"]["path"] = absolute_data_path(config["data"].get("path"))
    return config


def metric_names(built, train_set, val_set) -> set[str]:
    """The names of the metrics each epoch's evaluation gives (and `train_loss`): those of the trivial
    predictor's (from a few training records), which the objective judges like the model's."""
    few = dataclasses.replace(train_set, records=train_set.records[:4])
    matrices = np.tile(np.eye(3), (len(val_set), 1, 1))
    return set(built.objective.baseline(few, val_set, matrices)) | {"train_loss"}


def config_changes_text(task, config: dict) -> str:
    """The keys `config` changes from the task's defaults, and why the embedded demo run changes its
    own (jaxres.cli.commands.report.config_changes)."""
    task_config = defaults.complete(task.get_config())
    synthetic = task_config.get("synthetic") or {}
    return config_changes(task_config, config, synthetic_overrides(task_config), synthetic.get("why"))


def _final_evaluation(workdir: pathlib.Path, built, splits, result, loader, board) -> int:
    """The best checkpoint's weights (in memory when this run trained them) on the evaluation split,
    with the baseline; pictures; the ending; the JSON line."""
    variables = result.best_variables
    if variables is None:  # the best step was trained before this run resumed: only its checkpoint has it
        variables = best(workdir)[1]
    split, dataset = splits.eval_name, splits.eval
    metrics, predictions = evaluation.evaluate(built, variables, dataset, splits.train, loader)
    pictures = evaluation.write_pictures(workdir, built.objective, dataset, predictions)
    finish_run(workdir, {"split": split, **metrics}, pictures, result.best_step, board)
    print_result({"split": split, **metrics})
    return 0


def join_processes(args) -> None:
    if args.coordinator or args.num_processes:
        if args.process_id is None or not args.num_processes or not args.coordinator:
            raise UserError("multi-host needs --coordinator, --num-processes and --process-id together")
    parallel.initialize_distributed(args.coordinator, args.num_processes, args.process_id)


def _say(text: str) -> None:
    if text and parallel.is_primary():
        print(text, file=sys.stdout, flush=True)
