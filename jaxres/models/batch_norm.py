"""BatchNorm as torch's: the running variance moves with the unbiased batch variance (Flax's uses the
biased one); statistics are float32 whatever the compute dtype."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class BatchNorm(nn.Module):
    use_running_average: bool
    momentum: float = 0.9  # Flax convention: torch momentum 0.1
    epsilon: float = 1e-5
    dtype: Any = jnp.float32
    zero_scale: bool = False  # the scale starts at 0 instead of 1

    @nn.compact
    def __call__(self, x):
        features = x.shape[-1]
        scale_init = nn.initializers.zeros if self.zero_scale else nn.initializers.ones
        scale = self.param("scale", scale_init, (features,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
        running_mean = self.variable("batch_stats", "mean", jnp.zeros, (features,), jnp.float32)
        running_var = self.variable("batch_stats", "var", jnp.ones, (features,), jnp.float32)

        if self.use_running_average:
            mean, var = running_mean.value, running_var.value
        else:
            axes, xf = tuple(range(x.ndim - 1)), x.astype(jnp.float32)  # two-pass, for accuracy
            mean = jnp.mean(xf, axis=axes)
            var = jnp.mean(jnp.square(xf - mean), axis=axes)  # biased; the running one is unbiased
            if not self.is_initializing():
                count = x.size // features
                unbiased = var * (count / max(count - 1, 1))
                running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
                running_var.value = self.momentum * running_var.value + (1 - self.momentum) * unbiased

        # y = (x - mean) / sqrt(var + eps) * scale + bias, folded into one multiply-add per element.
        multiplier = scale * jax.lax.rsqrt(var + self.epsilon)
        shift = bias - mean * multiplier
        return x.astype(self.dtype) * multiplier.astype(self.dtype) + shift.astype(self.dtype)
