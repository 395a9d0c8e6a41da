"""The compiled train and eval steps, jitted once: `train_step(state, batch, metrics, frozen)` (positional,
`frozen` static: one compilation per set of frozen stages) folds the loss into an on-device
accumulator the loop reads once per log interval."""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from jaxres import platform
from jaxres.models import normalize
from jaxres.train import ema, parallel
from jaxres.train.optim import group_of
from jaxres.train.state import TrainState

LossFn = Callable[[Any, Mapping[str, jax.Array]], jax.Array]


def empty_metrics(sharding: jax.sharding.Sharding | None = None) -> dict[str, jax.Array]:
    """The train accumulator (loss sum, count, first non-finite step or -1), placed with the state's
    sharding so the step is not compiled twice."""
    return _zeros_on(sharding)()


@functools.lru_cache(maxsize=None)
def _zeros_on(sharding):
    """One jitted constructor per sharding, so that each log interval reuses it instead of re-tracing."""
    return jax.jit(_zero_metrics, out_shardings=sharding)


def _zero_metrics() -> dict[str, jax.Array]:
    return {
        "loss_sum": jnp.zeros((), jnp.float32),
        "steps": jnp.zeros((), jnp.int32),
        "nonfinite_step": jnp.full((), -1, jnp.int32),
    }


def model_input(model, batch, transformed: bool) -> jax.Array:
    """batch["image"] -> model input: pixels (uint8, or the transform's 0..255 floats) normalised as
    torchvision does, the one place that happens in a step; other floats are taken as normalised."""
    images = batch["image"]
    if transformed or images.dtype == jnp.uint8:
        return normalize(images, model.in_channels, model.dtype)
    return images.astype(model.dtype)


def make_train_step(model, loss_fn: LossFn, tx: optax.GradientTransformation, *, mesh: Mesh | None = None,
                    transform=None, ema_decay: float = 0.0):
    """The jitted step; `loss_fn(outputs, batch) -> float32 scalar`, state and metrics donated, `ema` moved
    by `ema_decay`; `transform(batch, key)` runs first with the step's "augment" key."""
    def train_step(state: TrainState, batch, metrics, frozen: tuple[str, ...] = ()):
        if transform is not None:
            batch = transform(batch, state.step_key("augment"))

        def loss_of(params):
            outputs, updates = model.apply(
                {"params": params, "batch_stats": state.batch_stats},
                model_input(model, batch, transform is not None),
                train=True,
                frozen=frozen,
                mutable=["batch_stats"],
                rngs={"dropout": state.step_key("dropout")},
            )
            return loss_fn(outputs, batch).astype(jnp.float32), updates["batch_stats"]

        (loss, batch_stats), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = _keep_frozen(optax.apply_updates(state.params, updates), state.params, frozen)
        new_state = state.replace(
            step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state
        )
        if state.ema is not None:
            average = ema.update(state.ema, new_state.live_variables(), state.step, ema_decay)
            new_state = new_state.replace(ema=average)
        return new_state, _accumulate(metrics, loss, state.step)

    options = platform.compiler_options(model)
    if mesh is None:
        return jax.jit(train_step, static_argnums=3, donate_argnums=(0, 2), compiler_options=options)
    repl, data = parallel.replicated(mesh), parallel.batch_sharding(mesh)
    return jax.jit(
        train_step,
        static_argnums=3,
        donate_argnums=(0, 2),
        compiler_options=options,
        in_shardings=(repl, data, repl),
        out_shardings=(repl, repl),
    )


def _keep_frozen(new_params, old_params, frozen):
    """Frozen groups keep their exact arrays (their update is zero anyway; this also keeps -0.0)."""
    return {k: (old_params[k] if group_of(k) in frozen else v) for k, v in new_params.items()}


def _accumulate(metrics, loss, step):
    finite = jnp.isfinite(loss)
    first_bad = jnp.where((metrics["nonfinite_step"] < 0) & ~finite, step, metrics["nonfinite_step"])
    return {
        "loss_sum": metrics["loss_sum"] + loss,
        "steps": metrics["steps"] + 1,
        "nonfinite_step": first_bad.astype(jnp.int32),
    }


def make_eval_step(model, predict_fn: Callable | None = None, *, mesh: Mesh | None = None, transform=None):
    """Jitted `eval_step(variables, batch) -> predict_fn(outputs, batch)`: the one inference forward;
    `transform` is the deterministic device transform (it must not draw from its key)."""
    predict_fn = predict_fn or (lambda outputs, batch: outputs)

    def eval_step(variables, batch):
        if transform is not None:
            batch = transform(batch, jax.random.key(0))
        outputs = model.apply(variables, model_input(model, batch, transform is not None), train=False)
        return predict_fn(outputs, batch)

    options = platform.compiler_options(model)
    if mesh is None:
        return jax.jit(eval_step, compiler_options=options)
    return jax.jit(eval_step, in_shardings=(parallel.replicated(mesh), parallel.batch_sharding(mesh)),
                   compiler_options=options)
