"""Learning-rate schedules configured in epochs, evaluated in steps (Python ints or traced counters)."""

from __future__ import annotations

from typing import Callable, Sequence

import jax.numpy as jnp

from jaxres.errors import ConfigError

Schedule = Callable[[int], jnp.ndarray]
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine", "cosine_restarts")


def make_schedule(
    name: str,
    base_lr: float,
    steps_per_epoch: int,
    epochs: int,
    *,
    warmup_epochs: float = 0,
    decay_epochs: Sequence[float] = (),
    decay_factor: float = 0.1,
    restart_epochs: float | None = None,
    final_lr_factor: float = 0.0,
) -> Schedule:
    """step -> learning rate: constant, step (MultiStepLR), cosine, warmup_cosine or cosine_restarts
    (CosineAnnealingWarmRestarts per batch); `warmup_epochs` > 0 prepends a linear warmup."""
    if name not in SCHEDULES:
        raise ConfigError(f"optim.schedule {name!r} is not one of {list(SCHEDULES)}")
    spe = int(steps_per_epoch)
    warmup = warmup_steps(warmup_epochs, spe)
    total = max(int(round(epochs * spe)), warmup + 1)
    if name == "warmup_cosine" and warmup == 0:
        raise ConfigError("optim.schedule 'warmup_cosine' needs optim.warmup_epochs > 0")
    if name == "constant":
        main = lambda t: jnp.full((), base_lr, jnp.float32)  # noqa: E731
    elif name == "step":
        main = _step_decay(base_lr, [int(round(e * spe)) for e in decay_epochs], decay_factor)
    elif name in ("cosine", "warmup_cosine"):
        main = _cosine(base_lr, warmup, total - warmup, final_lr_factor, restart=False)
    else:
        if not restart_epochs or restart_epochs <= 0:
            raise ConfigError("optim.schedule 'cosine_restarts' needs optim.restart_epochs > 0")
        main = _cosine(base_lr, warmup, max(int(round(restart_epochs * spe)), 1), final_lr_factor, restart=True)
    return _with_warmup(main, base_lr, warmup) if warmup else main


def warmup_steps(warmup_epochs: float, steps_per_epoch: int) -> int:
    """The warmup's length in steps: `warmup_epochs` × steps an epoch, rounded."""
    return int(round(float(warmup_epochs) * int(steps_per_epoch)))


def _with_warmup(main: Schedule, base_lr: float, warmup: int) -> Schedule:
    """Linear ramp reaching `base_lr` at step `warmup`; the first step already moves (lr > 0)."""

    def schedule(step):
        ramp = base_lr * (jnp.asarray(step, jnp.float32) + 1.0) / warmup
        return jnp.where(jnp.asarray(step) < warmup, ramp, main(step))

    return schedule


def _step_decay(base_lr: float, boundaries: Sequence[int], factor: float) -> Schedule:
    def schedule(step):
        passed = sum((jnp.asarray(step) >= b).astype(jnp.int32) for b in boundaries) if boundaries else 0
        return jnp.asarray(base_lr, jnp.float32) * jnp.asarray(factor, jnp.float32) ** passed

    return schedule


def _cosine(base_lr: float, offset: int, period: int, final_factor: float, restart: bool) -> Schedule:
    """Half-cosine over `period` steps starting at `offset`; repeats when `restart`, else holds the floor."""

    def schedule(step):
        t = jnp.maximum(jnp.asarray(step, jnp.int32) - offset, 0)
        t = jnp.mod(t, period) if restart else jnp.minimum(t, period)
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * t.astype(jnp.float32) / period))
        return base_lr * (final_factor + (1.0 - final_factor) * cosine)

    return schedule
