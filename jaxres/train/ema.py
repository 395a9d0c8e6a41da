"""An exponential moving average of the model's variables, the weights that evaluation uses.

The average covers params and BatchNorm statistics together (as timm's ModelEmaV2 averages the whole
state dict), so the evaluated network never pairs averaged weights with another network's running
statistics. The decay is configured as a time constant in epochs (`optim.ema_epochs`) because
configs speak in epochs and the step count per epoch depends on the data set's size; early on it
follows the weights closely (`(1 + t) / (10 + t)`), so a short run does not average in its random
initialisation.
"""

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
