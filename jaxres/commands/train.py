"""`train`: config -> data -> model -> `fit` (resuming the workdir) -> evaluation, pictures, JSON."""

from __future__ import annotations

import pathlib
import sys

import jax

from jaxres import evaluation, experiment, models, weights
from jaxres.commands import guards
from jaxres.commands.evaluate import print_result
from jaxres.commands.restore import load_trained
from jaxres.commands.splits import training_splits
from jaxres.config import apply_overrides, load_config_file
from jaxres.config_checks import check_config, check_process
from jaxres.errors import ConfigError, UserError
from jaxres.train import parallel
from jaxres.train import state as state_lib
from jaxres.train.ema import decay_per_step
from jaxres.train.loop import CHECKPOINT_DEFAULTS, TRAIN_DEFAULTS, Preempted, fit
from jaxres.train.optim import DEFAULTS as OPTIM_DEFAULTS
from jaxres.train.optim import learning_rates, make_optimizer
from jaxres.train.steps import make_train_step

# Keys whose change makes an existing checkpoint unusable: refused on resume, with the keys named.
SHAPE_KEYS = ("model.arch", "model.resolved", "model.head_options", "objective.kind", "objective.channels")


def train(task, args) -> int:
    check_process(args.num_processes, args.process_id)
    config = check_config(build_config(task, args), where=args.config)
    join_processes(args)
    _say(config_changes_text(task, config))
    workdir = guards.training_workdir(args.workdir, getattr(args, "force", False))
    if parallel.is_primary():
        guards.refuse_if_locked(workdir)
    path = experiment.resolve_data_path(task, config)
    splits = training_splits(task, path, config, args.skip_bad)  # every split, before the first step
    train_set, val_set = splits.train, splits.val
    objective = experiment.build_objective(config)
    config = experiment.resolve_model_options(config, objective, train_set)
    _check_resume_compatible(workdir, config)

    model = experiment.build_model(config)
    mesh = parallel.make_mesh()
    epochs, batch_size = int(config["train"]["epochs"]), int(config["train"]["batch_size"])
    if batch_size > len(train_set):
        raise ConfigError(f"train.batch_size {batch_size} is larger than the {len(train_set)} training records")
    parallel.local_batch_size(batch_size, mesh)  # a ConfigError naming train.batch_size, before any compile
    variables = initial_variables(model, config, synthetic=not config["data"]["path"])
    steps_per_epoch = len(train_set) // batch_size
    optimizer = make_optimizer(config["optim"], steps_per_epoch, epochs)
    ema_decay = decay_per_step(config["optim"]["ema_epochs"], steps_per_epoch)
    state = state_lib.create(variables, optimizer.tx, int(config["train"]["seed"]), mesh, ema=ema_decay > 0)
    step = make_train_step(model, objective.loss, optimizer.tx, mesh=mesh, ema_decay=ema_decay,
                           transform=experiment.input_transform(objective, config, train=True))
    loader = experiment.make_loader(objective, train_set, config, train=True, mesh=mesh, log=_say)
    val_loader = evaluation.make_loader(objective, val_set, config, mesh)
    if experiment.on_device(config) and splits.eval is not val_set:
        # decoded now, not after training: an image whose body is damaged fails before the first step
        experiment.load_frames(objective, splits.eval.records, config, log=_say)
    # Only now: a refused run must not leave a config.json that a corrected run's resume check
    # would hold against it (a bad --weights or batch size is not a trained model.arch).
    if parallel.is_primary():
        guards.save_config_locked(workdir, config, experiment.save_config)
    else:
        experiment.save_config(workdir, config)
    _say(f"training {config['model']['arch']} on {len(train_set)} records ({len(val_set)} validation), "
         f"{epochs} epochs × {steps_per_epoch} steps of {batch_size} on {jax.device_count()} device(s)")

    def validate_metrics(current_state):
        outputs, extras = evaluation.run_outputs(model, current_state.variables(), objective, val_set, config, mesh,
                                                 loader=val_loader)
        return objective.evaluate(objective.decode(outputs, extras), val_set)

    result = fit(state, step, loader.epoch, steps_per_epoch=steps_per_epoch, config=config, workdir=workdir,
                 frozen_at_epoch=optimizer.frozen_at_epoch, evaluate=validate_metrics, data_stats=loader.stats,
                 learning_rate=learning_rates(config["optim"], steps_per_epoch, epochs))
    if isinstance(result, Preempted):
        print(f"to resume: python -m tasks.{task.name} train --workdir {workdir}", flush=True)
        return 0
    return _final_evaluation(workdir, splits, result.best_step)


def build_config(task, args) -> dict:
    """Defaults (or --config), the synthetic set's overrides when no data is given, --set, flags."""
    config = load_config_file(args.config) if args.config else task.get_config()
    config = _with_engine_defaults(config)
    data_given = bool(args.data) or any(item.startswith("data.path=") for item in args.set)
    if not data_given:
        config = apply_overrides(config, [f"{k}={v!r}" for k, v in config.get("synthetic", {}).get("overrides", {}).items()])
    flags = {"data.path": args.data, "model.weights": args.weights, "train.epochs": args.epochs,
             "train.batch_size": args.batch_size, "train.seed": args.seed}
    overrides = list(args.set) + [f"{k}={v!r}" for k, v in flags.items() if v is not None]
    return apply_overrides(config, overrides)


def _with_engine_defaults(config: dict) -> dict:
    """Every engine key present, so `--set optim.schedule=cosine` works on any task."""
    config = dict(config)
    config["optim"] = {**OPTIM_DEFAULTS, **config.get("optim", {})}
    config["train"] = {**TRAIN_DEFAULTS, **config.get("train", {})}
    config["checkpoint"] = {**CHECKPOINT_DEFAULTS, **config.get("checkpoint", {})}
    config["data"] = {**experiment.DATA_DEFAULTS, **config.get("data", {})}
    return config


def _check_resume_compatible(workdir: pathlib.Path, config: dict) -> None:
    """Refuse a resume that changes the model's shape before anything is built or config.json is
    rewritten. The checkpoint's own check (`Checkpoints.restore`) compares every array, for callers
    of `fit` that do not come through the command line."""
    if not (workdir / experiment.CONFIG_FILE).is_file():
        return
    saved = experiment.load_workdir_config(workdir)
    from jaxres.config import get_path

    differing = [k for k in SHAPE_KEYS if get_path(saved, k) != get_path(config, k)]
    if differing:
        raise ConfigError(
            f"the workdir was trained with other {', '.join(differing)}; its checkpoint cannot be resumed "
            "with this model. Use a new --workdir or the original settings",
            where=str(workdir),
        )


def initial_variables(model, config: dict, synthetic: bool) -> dict:
    """A weights name (jaxres.weights.named) / none / a state-dict path. The embedded run never
    downloads: it says what it used."""
    choice = str(config["model"].get("weights", "none"))
    arch, seed = config["model"]["arch"], int(config["train"]["seed"])
    if choice == "none":
        _say("weights: random initialisation")
        return models.init(model, seed, image_size=32)
    if weights.named.is_named(choice):
        path = weights.named.cached_path(choice, arch)
        if path is None and synthetic:
            _say(f"weights: random initialisation (no {choice} {arch} file in {weights.named.cache_hint(choice)}; "
                 "the embedded run never downloads)")
            return models.init(model, seed, image_size=32)
        path = path or weights.named.fetch(choice, arch)
    else:
        path = pathlib.Path(choice).expanduser()
    variables, report = weights.load_torchvision(path, model, rng=seed, return_report=True)
    _say(f"weights: {path}" + "".join(f"\n  {line}" for line in report.lines()))
    return variables


def config_changes_text(task, config: dict) -> str:
    """The keys `config` changes from the task's defaults (jaxres.report.config_changes)."""
    from jaxres.report import config_changes

    synthetic = task.get_config().get("synthetic", {}).get("overrides", {})
    return config_changes(_with_engine_defaults(task.get_config()), config, synthetic)


def _final_evaluation(workdir: pathlib.Path, splits, best_step=None) -> int:
    """The best checkpoint on the evaluation split, with the baseline; pictures; the ending; the JSON line."""
    from jaxres.commands.ending import finish_run

    config, model, objective, variables = load_trained(workdir)
    split, dataset = splits.eval_name, splits.eval
    result, predictions = evaluation.evaluate(model, variables, objective, dataset, splits.train, config)
    pictures = evaluation.write_pictures(workdir, objective, dataset, predictions)
    finish_run(workdir, config, {"split": split, **result}, pictures, best_step)
    print_result({"split": split, **result})
    return 0


def join_processes(args) -> None:
    if args.coordinator or args.num_processes:
        if args.process_id is None or not args.num_processes or not args.coordinator:
            raise UserError("multi-host needs --coordinator, --num-processes and --process-id together")
    parallel.initialize_distributed(args.coordinator, args.num_processes, args.process_id)


def _say(text: str) -> None:
    if text and parallel.is_primary():
        print(text, file=sys.stdout, flush=True)
