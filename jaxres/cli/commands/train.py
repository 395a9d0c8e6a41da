"""`train`: config -> splits -> assembly -> `fit` (resuming the workdir) -> evaluation, pictures, JSON.

On a workdir that holds a run, the config is that run's (`commands.resume`), with only what the
command line changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import sys

import jax
import numpy as np

from jaxres import models, weights
from jaxres.train import assembly
from jaxres.config import defaults
from jaxres.train import evaluation
from jaxres.platform import files
from jaxres.train import workdir as workdir_files
from jaxres.cli.commands import guards
from jaxres.cli.commands.evaluate import print_result
from jaxres.train.restore import trained
from jaxres.cli.commands.resume import (absolute_data_path, damaged_resume, refuse_another_run, refuse_other_facts,
                                    resume_command, resume_point, saved_run)
from jaxres.cli.commands.splits import resolve_data_path, training_splits
from jaxres.config import apply_overrides, get_path, load_config_file, synthetic_overrides
from jaxres.config.checks import check_best_metric, check_config, check_process
from jaxres.errors import ConfigError, UserError
from jaxres.platform import devices
from jaxres.train import parallel
from jaxres.train import state as state_lib
from jaxres.train.ema import decay_per_step
from jaxres.train.checkpoint import quiet
from jaxres.train.loop import NonFiniteLoss, Preempted, fit
from jaxres.train.optim import learning_rates, make_optimizer
from jaxres.train.precision import resolve_dtype
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

    epochs, batch_size = int(config["train"]["epochs"]), int(config["train"]["batch_size"])
    if batch_size > len(train_set):
        raise ConfigError(f"train.batch_size {batch_size} is larger than the {len(train_set)} training records")
    parallel.local_batch_size(batch_size, built.mesh)  # a ConfigError naming train.batch_size, before any compile
    steps_per_epoch = len(train_set) // batch_size
    resumed = resume_point(workdir, steps_per_epoch, len(train_set), path) if saved is not None else None

    def start_head(fresh: dict) -> dict:  # a random or replaced head, never one the weights brought
        _say(assembly.head_start_note(config, steps_per_epoch))
        return built.start_head(fresh, train_set)

    resuming = None if resumed is None else workdir_files.checkpoint_dir(workdir) / str(resumed)
    variables = initial_variables(built.model, config, synthetic=not config["data"]["path"], fresh_head=start_head,
                                  resuming=resuming)
    optimizer = make_optimizer(config["optim"], steps_per_epoch, epochs)
    ema_decay = decay_per_step(config["optim"]["ema_epochs"], steps_per_epoch)
    state = state_lib.create(variables, optimizer.tx, int(config["train"]["seed"]), built.mesh, ema=ema_decay > 0)
    step = built.train_step(optimizer.tx, ema_decay)
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
         f"{epochs} epochs × {steps_per_epoch} steps of {batch_size} on "
         f"{devices.describe(jax.devices(), resolve_dtype(config['model']['dtype']))}")

    # one TensorBoard event file for the run: the curves during training, the pictures after it
    with contextlib.closing(Board(workdir, enabled=parallel.is_primary() and bool(config["train"]["tensorboard"]))) as board:
        try:
            result = fit(state, step, loader.epoch, steps_per_epoch=steps_per_epoch, config=config, workdir=workdir,
                         frozen_at_epoch=optimizer.frozen_at_epoch, data_stats=loader.stats, board=board,
                         evaluate=lambda current: evaluation.metrics(built, current.variables(), val_set, val_loader),
                         learning_rate=learning_rates(config["optim"], steps_per_epoch, epochs))
        except NonFiniteLoss as err:
            raise damaged_resume(err, resumed) or err
        if isinstance(result, Preempted):
            print(f"to resume: {resume_command(task, workdir)}", flush=True)
            return 0
        return _final_evaluation(workdir, built, splits, result, eval_loader, board)


def build_config(task, args, saved: dict | None = None) -> dict:
    """The run's config: --config, else the workdir's run (`saved`, its config.json), else the task's,
    over the defaults; a new run on no data gets the synthetic set's overrides; then --set and flags.
    `data.path` is made absolute, so a resume from any folder reads the same data."""
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


def initial_variables(model, config: dict, synthetic: bool, fresh_head=lambda variables: variables,
                      resuming: pathlib.Path | None = None) -> dict:
    """A weights name (jaxres.weights.named) / none / a state-dict path. The embedded run never
    downloads: it says what it used. `fresh_head` (`model.head_init`) applies only where the head
    is newly initialised: a head the weights file brings is the user's, and is kept. `resuming`: the
    checkpoint the run continues, whose weights replace these (nothing is read or downloaded)."""
    choice = str(config["model"]["weights"])
    arch, seed = config["model"]["arch"], int(config["train"]["seed"])
    if resuming is not None:
        _say(f"weights: {resuming} (resuming that checkpoint)")
        return models.init(model, seed, image_size=32)
    if choice == "none":
        _say("weights: random initialisation")
        return fresh_head(models.init(model, seed, image_size=32))
    if weights.named.is_named(choice):
        path = weights.named.cached_path(choice, arch)
        if path is None and synthetic:
            _say(f"weights: random initialisation (no {choice} {arch} file in {weights.named.cache_hint(choice, arch)}; "
                 "the embedded run never downloads)")
            return fresh_head(models.init(model, seed, image_size=32))
        if path is None:
            with quiet(("huggingface_hub", "urllib3", "filelock")):  # a failure is one line; no retry log
                path = weights.named.fetch(choice, arch)
    else:
        path = pathlib.Path(choice).expanduser()
        if path.is_file():
            files.check_checksum(path)  # an exported weights file carries its checksum
    variables, report = weights.load_torchvision(path, model, rng=seed, return_report=True)
    _say(f"weights: {path}" + "".join(f"\n  {line}" for line in report.lines()))
    if report.replaced_head:
        return fresh_head(variables)
    if config["model"]["head_init"] != "default":
        _say(f"model.head_init: the head of {path} is kept")
    return variables


def config_changes_text(task, config: dict) -> str:
    """The keys `config` changes from the task's defaults, and why the embedded demo run changes its
    own (jaxres.cli.commands.report.config_changes)."""
    from jaxres.cli.commands.report import config_changes

    task_config = defaults.complete(task.get_config())
    synthetic = task_config.get("synthetic") or {}
    return config_changes(task_config, config, synthetic_overrides(task_config), synthetic.get("why"))


def _final_evaluation(workdir: pathlib.Path, built, splits, result, loader, board) -> int:
    """The best checkpoint's weights (in memory when this run trained them) on the evaluation split,
    with the baseline; pictures; the ending; the JSON line."""
    from jaxres.cli.commands.ending import finish_run

    variables = result.best_variables
    if variables is None:  # the best step was trained before this run resumed: only its checkpoint has it
        variables = trained(workdir)[1]
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
