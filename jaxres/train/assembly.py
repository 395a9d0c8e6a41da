"""The one build every command uses: (config, data facts) -> objective, model, input path, steps; `train`
derives the facts from its split, the other commands read them back from the workdir."""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from typing import Any, Callable

import jax

from jaxres import models, objectives, weights
from jaxres.data import frame_cache, framed
from jaxres.data.pipeline import Loader
from jaxres.data.records import Dataset
from jaxres.errors import ConfigError
from jaxres.models.heads import start_at
from jaxres.objectives.serving import inference_model
from jaxres.platform import cache_paths, files
from jaxres.train import parallel
from jaxres.train import state as state_lib
from jaxres.train.checkpoint import quiet
from jaxres.train.ema import decay_per_step
from jaxres.train.optim import learning_rates, make_optimizer
from jaxres.train.precision import resolve_dtype
from jaxres.train.progress import Ticker
from jaxres.train.schedules import warmup_steps
from jaxres.train.steps import make_eval_step, make_train_step
from jaxres.train.workdir import DataFacts

HEAD_INITS = ("default", "mean_target")
# On a started head's zero kernel Adam moves all of an output's weights together: without warmup the
# outputs jump far from the mean (docs/BENCHMARKS.md).
HEAD_INIT_WARMUP_STEPS = 10


def head_start_note(config: dict, steps_per_epoch: int) -> str | None:
    """A line for a run whose mean-target head meets Adam with fewer than HEAD_INIT_WARMUP_STEPS warmup
    steps, naming the `optim.warmup_epochs` that suffice; None otherwise."""
    optim = config["optim"]
    if config["model"]["head_init"] == "default" or optim["name"] not in ("adam", "adamw"):
        return None
    warmup = warmup_steps(optim.get("warmup_epochs") or 0, steps_per_epoch)
    if warmup >= HEAD_INIT_WARMUP_STEPS:
        return None
    enough = -(-HEAD_INIT_WARMUP_STEPS // max(steps_per_epoch, 1))
    return (f"note: model.head_init='mean_target' with {warmup} warmup step(s): {optim['name']}'s first "
            f"full-rate steps can throw the started head far off; --set optim.warmup_epochs={enough} "
            f"gives {HEAD_INIT_WARMUP_STEPS} or more")


@dataclasses.dataclass(frozen=True, eq=False)
class Assembly:
    """What a command works with. `config` is the run's completed config (jaxres.config.defaults) and never
    holds data facts; `facts` is what the training split decided; `mesh` spreads batches over devices."""

    config: dict
    facts: DataFacts
    objective: objectives.Objective
    model: Any
    mesh: Any = None

    def train_step(self, tx, ema_decay: float = 0.0):
        return make_train_step(self.model, self.objective.loss, tx, mesh=self.mesh, ema_decay=ema_decay,
                               transform=framed.transform(self.objective, train=True))

    @functools.cached_property
    def forward(self):
        """The one compiled inference forward `(variables, batch) -> outputs`, reused by every evaluation
        (flip-tested with `objective.flip_test`)."""
        return make_eval_step(inference_model(self.model, self.objective),
                              transform=framed.transform(self.objective, train=False))

    def load_frames(self, records, *, log=None):
        """The records' decoded frames from the cache (decoding what is missing); every process of a
        multi-host run decodes its share and reads the others' from a shared cache folder."""
        return frame_cache.load_or_build(
            records, self.objective.frame_spec(), self.objective.frame_of,
            root=cache_paths.frames_dir(self.config["data"]["cache_dir"]), workers=self.config["data"]["workers"],
            process_index=jax.process_index(), process_count=jax.process_count(), barrier=parallel.barrier, log=log,
            progress=functools.partial(Ticker, enabled=parallel.is_primary()))

    def loader(self, dataset: Dataset, *, train: bool, batch_size: int | None = None, frames=None,
               log=None) -> Loader:
        """Batches of `dataset`: gathered cached frames (`frames`, else loaded here) and the objective's
        per-record arrays; the step does the rest."""
        frames = frames if frames is not None else self.load_frames(dataset.records, log=log)
        made = framed.build(self.objective, dataset.records, frames, train=train)
        return Loader(len(dataset), made.batch, batch_size=batch_size or int(self.config["train"]["batch_size"]),
                      seed=int(self.config["train"]["seed"]), shuffle=train, drop_last=train,
                      sharding=parallel.batch_sharding(self.mesh) if self.mesh is not None else None)

    def eval_loader(self, dataset: Dataset, *, frames=None, log=None) -> Loader:
        """Every record once, in order, padded to whole batches (build it once to run it every epoch): of the
        training size, but no larger than the split, rounded up to the device count."""
        devices, size = jax.device_count(), min(int(self.config["train"]["batch_size"]), max(len(dataset), 1))
        return self.loader(dataset, train=False, batch_size=-(-size // devices) * devices, frames=frames, log=log)


def for_training(config: dict, train: Dataset, mesh=None) -> Assembly:
    """The assembly of a training on `train`: the facts it decides, then the head they give."""
    target = objectives.facts_of(config["objective"], train)
    objective = objectives.create(config["objective"], target)
    return build(config, DataFacts(target, objective.model_options()), mesh, objective)


def build(config: dict, facts: DataFacts, mesh=None, objective=None) -> Assembly:
    """The objective (unless given) and model of `config` with the data's `facts` (a workdir's, or the split's)."""
    objective = objectives.create(config["objective"], facts.target) if objective is None else objective
    if config["model"]["head_init"] not in HEAD_INITS:
        raise ConfigError(f"config key 'model.head_init' takes one of {HEAD_INITS}, got {config['model']['head_init']!r}")
    model = models.create(config["model"]["arch"], in_channels=int(config["objective"]["channels"]),
                          dtype=resolve_dtype(config["model"]["dtype"]),
                          zero_init_residual=config["model"]["zero_init_residual"],
                          drop_path=config["model"]["drop_path"],
                          **{**config["model"]["head_options"], **facts.model})
    return Assembly(config, facts, objective, model, mesh)


@dataclasses.dataclass(frozen=True)
class Training:
    """What `loop.fit` runs: the first state (weights, started head, optimizer and EMA state) and its step."""

    state: Any
    step: Callable
    steps_per_epoch: int
    frozen_at_epoch: Callable[[int], tuple]
    learning_rate: Callable[[int], dict]


def steps_per_epoch(config: dict, train: Dataset, mesh=None) -> int:
    """Whole batches of `train.batch_size` in the training split; a ConfigError for a batch that
    cannot be filled or split over the devices, before anything compiles."""
    batch_size = int(config["train"]["batch_size"])
    if batch_size > len(train):
        raise ConfigError(f"train.batch_size {batch_size} is larger than the {len(train)} training records")
    parallel.local_batch_size(batch_size, mesh)
    return len(train) // batch_size


def start_training(built: Assembly, train: Dataset, *, resuming: pathlib.Path | None = None,
                   log: Callable[[str], None] = lambda text: None) -> Training:
    """The one wiring of a training (the `train` command and the benchmarks): initial weights or the
    `resuming` checkpoint's shape, head start, optimizer, EMA, sharded state, compiled step."""
    config = built.config
    spe, epochs = steps_per_epoch(config, train, built.mesh), int(config["train"]["epochs"])

    def fresh_head(variables: dict) -> dict:
        """`model.head_init` on a random or replaced head (never one the weights brought): "default" keeps it,
        "mean_target" makes a regression head answer the training split's mean target at step 0."""
        if config["model"]["head_init"] == "default":
            return variables
        if note := head_start_note(config, spe):
            log(note)
        return {**variables, "params": start_at(variables["params"], built.objective.mean_output(train))}

    variables = initial_variables(built.model, config, synthetic=not config["data"]["path"], fresh_head=fresh_head,
                                  resuming=resuming, log=log)
    optimizer = make_optimizer(config["optim"], spe, epochs)
    ema_decay = decay_per_step(config["optim"]["ema_epochs"], spe)
    state = state_lib.create(variables, optimizer.tx, int(config["train"]["seed"]), built.mesh, ema=ema_decay > 0)
    return Training(state, built.train_step(optimizer.tx, ema_decay), spe, optimizer.frozen_at_epoch,
                    learning_rates(config["optim"], spe, epochs))


def initial_variables(model, config: dict, synthetic: bool, fresh_head=lambda variables: variables,
                      resuming: pathlib.Path | None = None, log: Callable[[str], None] = lambda text: None) -> dict:
    """`model.weights` (a weights name, "none" or a state-dict path; the embedded run never downloads);
    `fresh_head` applies only to a newly initialised head, and `resuming` reads no weights."""
    choice = str(config["model"]["weights"])
    arch, seed = config["model"]["arch"], int(config["train"]["seed"])
    if resuming is not None:
        log(f"weights: {resuming} (resuming that checkpoint)")
        return models.init(model, seed, image_size=32)
    if choice == "none":
        log("weights: random initialisation")
        return fresh_head(models.init(model, seed, image_size=32))
    if weights.named.is_named(choice):
        path = weights.named.cached_path(choice, arch)
        if path is None and synthetic:
            log(f"weights: random initialisation (no {choice} {arch} file in {weights.named.cache_hint(choice, arch)}; "
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
    log(f"weights: {path}" + "".join(f"\n  {line}" for line in report.lines()))
    if report.replaced_head:
        return fresh_head(variables)
    if config["model"]["head_init"] != "default":
        log(f"model.head_init: the head of {path} is kept")
    return variables
