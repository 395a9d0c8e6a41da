"""Optimizers with per-group learning rates and staged unfreezing: an `optax.partition` over the groups
(stem, layer1 … layer4, head), each gated at zero until its stage unfreezes, so the state tree never
changes structure."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxres.config.defaults import OPTIM
from jaxres.errors import ConfigError
from jaxres.models import GROUPS
from jaxres.train.schedules import Schedule, make_schedule

NEVER = int(jnp.iinfo(jnp.int32).max)
STEM_PARAMS = ("conv1", "bn1")

OPTIMIZERS = ("sgd", "adam", "adamw")


class Optimizer(NamedTuple):
    tx: optax.GradientTransformation
    frozen_at_epoch: Callable[[int], tuple[str, ...]]


def group_of(name: str) -> str:
    """The group of a top-level parameter name: conv1/bn1 -> stem, layer3_1 -> layer3, else head."""
    if name in STEM_PARAMS:
        return "stem"
    stage = name.split("_", 1)[0]
    return stage if stage in GROUPS[1:5] else "head"


def param_labels(params: Any) -> Any:
    """A tree like `params` whose leaves are group names."""
    return {name: jax.tree.map(lambda _, g=group_of(name): g, sub) for name, sub in params.items()}


def decay_mask(params: Any) -> Any:
    """True on conv and dense kernels: BatchNorm scales/biases and dense biases get no weight decay."""
    return jax.tree_util.tree_map_with_path(lambda path, _: _leaf_name(path) == "kernel", params)


def _leaf_name(path) -> str:
    last = path[-1]
    return str(getattr(last, "key", getattr(last, "name", last)))


class GateState(NamedTuple):
    count: jax.Array  # steps seen, open or not: the schedule runs on the global step
    inner: optax.OptState


def stage_gate(inner: optax.GradientTransformation, schedule: Schedule, open_step: int) -> optax.GradientTransformation:
    """`inner` scaled by `-schedule(step)` from `open_step` on; before it, zero updates and frozen state."""

    def init(params):
        return GateState(jnp.zeros((), jnp.int32), inner.init(params))

    def update(updates, state, params=None):
        is_open = state.count >= open_step
        new_updates, new_inner = inner.update(updates, state.inner, params)
        lr = schedule(state.count)
        new_updates = jax.tree.map(lambda u: jnp.where(is_open, -lr * u, 0.0).astype(u.dtype), new_updates)
        new_inner = jax.tree.map(lambda new, old: jnp.where(is_open, new, old), new_inner, state.inner)
        return new_updates, GateState(state.count + 1, new_inner)

    return optax.GradientTransformation(init, update)


def base_rule(cfg: dict) -> optax.GradientTransformation:
    """The update direction without the learning rate, with weight decay as torch has it: L2 in the gradient
    for SGD and Adam, decoupled for AdamW."""
    wd = cfg["weight_decay"]
    decay = optax.add_decayed_weights(wd, mask=decay_mask) if wd else optax.identity()
    if cfg["name"] == "sgd":
        momentum = optax.trace(cfg["momentum"], nesterov=cfg["nesterov"]) if cfg["momentum"] else optax.identity()
        return optax.chain(decay, momentum)
    adam = optax.scale_by_adam(cfg["b1"], cfg["b2"], cfg["eps"])
    return optax.chain(decay, adam) if cfg["name"] == "adam" else optax.chain(adam, decay)


def make_optimizer(optim_config: dict, steps_per_epoch: int, epochs: int | None = None) -> Optimizer:
    """(tx, frozen_at_epoch) from an `optim` section; `frozen_at_epoch(epoch)` is the static tuple of frozen
    groups the train step takes."""
    cfg = validate(optim_config)
    spe = int(steps_per_epoch)
    open_steps = {g: _open_step(g, cfg, spe) for g in GROUPS}
    gates = {g: stage_gate(base_rule(cfg), group_schedule(cfg, g, spe, epochs), open_steps[g]) for g in GROUPS}
    tx = optax.partition(gates, param_labels)
    if cfg["clip_norm"]:
        tx = optax.chain(optax.clip_by_global_norm(cfg["clip_norm"]), tx)
    frozen, unfreeze = tuple(cfg["frozen"]), dict(cfg["unfreeze"])

    def frozen_at_epoch(epoch: int) -> tuple[str, ...]:
        return tuple(g for g in GROUPS if g in frozen and not (g in unfreeze and epoch >= unfreeze[g]))

    return Optimizer(tx, frozen_at_epoch)


def learning_rates(optim_config: dict, steps_per_epoch: int, epochs: int | None = None) -> Callable[[int], dict]:
    """`step -> {group: learning rate}` as the optimizer applies it (0 while a stage is frozen), for
    the logs: staged unfreezing shows as a group's rate leaving zero."""
    cfg = validate(optim_config)
    spe = int(steps_per_epoch)
    schedules = {g: group_schedule(cfg, g, spe, epochs) for g in GROUPS}
    open_steps = {g: _open_step(g, cfg, spe) for g in GROUPS}

    def at(step: int) -> dict:
        return {g: float(schedules[g](step)) if step >= open_steps[g] else 0.0 for g in GROUPS}

    return at


def group_schedule(cfg: dict, group: str, steps_per_epoch: int, epochs: int | None) -> Schedule:
    """The learning-rate schedule of one group (its peak: `group_lr[group]`, else `lr`)."""
    cfg = validate(cfg)
    if cfg["schedule"] in ("cosine", "warmup_cosine") and not epochs:
        raise ConfigError(f"optim.schedule {cfg['schedule']!r} needs the number of epochs (train.epochs)")
    return make_schedule(
        cfg["schedule"],
        float(cfg["group_lr"].get(group, cfg["lr"])),
        steps_per_epoch,
        epochs or 1,
        warmup_epochs=cfg["warmup_epochs"],
        decay_epochs=cfg["decay_epochs"],
        decay_factor=cfg["decay_factor"],
        restart_epochs=cfg["restart_epochs"],
        final_lr_factor=cfg["final_lr_factor"],
    )


def _open_step(group: str, cfg: dict, steps_per_epoch: int) -> int:
    if group not in cfg["frozen"]:
        return 0
    if group in cfg["unfreeze"]:
        return int(round(cfg["unfreeze"][group] * steps_per_epoch))
    return NEVER


def validate(optim_config: dict) -> dict:
    """The config merged over OPTIM; unknown keys, optimizers and groups are `ConfigError`s."""
    unknown = set(optim_config) - set(OPTIM)
    if unknown:
        raise ConfigError(f"unknown optim keys {sorted(unknown)}; known: {sorted(OPTIM)}")
    cfg = {**OPTIM, **optim_config}
    if cfg["name"] not in OPTIMIZERS:
        raise ConfigError(f"optim.name {cfg['name']!r} is not one of {list(OPTIMIZERS)}")
    for key in ("frozen", "unfreeze", "group_lr"):
        bad = [g for g in cfg[key] if g not in GROUPS]
        if bad:
            raise ConfigError(f"optim.{key} names {bad}, which are not groups; groups are {list(GROUPS)}")
    not_frozen = [g for g in cfg["unfreeze"] if g not in cfg["frozen"]]
    if not_frozen:
        raise ConfigError(f"optim.unfreeze names {not_frozen}, which optim.frozen does not freeze; "
                          "add them to optim.frozen")
    return cfg
