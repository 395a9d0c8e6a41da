"""An exponential moving average of params and BatchNorm statistics together (what evaluation uses),
its time constant in epochs (`optim.ema_epochs`), following the weights early on ((1 + t) / (10 + t))."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp


def decay_per_step(ema_epochs: float, steps_per_epoch: int) -> float:
    """exp(-1 / (ema_epochs · steps_per_epoch)); 0.0 (no EMA) when `ema_epochs` is 0."""
    if not ema_epochs:
        return 0.0
    return math.exp(-1.0 / (float(ema_epochs) * max(int(steps_per_epoch), 1)))


def update(ema: Any, variables: Any, step: jax.Array, decay: float) -> Any:
    """The average after optimizer step `step` (0-based) produced `variables`."""
    t = jnp.asarray(step, jnp.float32)
    d = jnp.minimum(jnp.float32(decay), (1.0 + t) / (10.0 + t))
    return jax.tree.map(lambda e, v: (d * e + (1.0 - d) * v).astype(e.dtype), ema, variables)
