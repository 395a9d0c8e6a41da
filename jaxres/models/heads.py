"""Heads on the pooled feature, at the top of the parameter tree (`fc`, `fc_hidden`, `fc_out`) as in torchvision."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

HEADS = ("linear", "mlp", "keypoints")

# torch.nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
_KERNEL_INIT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def dense(features: int, fan_in: int, name: str, dtype: Any) -> nn.Dense:
    bound = 1.0 / jnp.sqrt(fan_in)
    bias_init = lambda key, shape, d=jnp.float32: jax.random.uniform(key, shape, d, -bound, bound)  # noqa: E731
    return nn.Dense(features, dtype=dtype, param_dtype=jnp.float32, kernel_init=_KERNEL_INIT, bias_init=bias_init,
                    name=name)


def apply_head(pooled, *, head: str, num_outputs: int, hidden: int, dropout: float, train: bool, dtype: Any):
    """pooled (B, F) -> outputs; `mlp` is the ImageNet-Sketch project's Linear→ReLU→Dropout→Linear."""
    fan_in = pooled.shape[-1]
    if head in ("linear", "keypoints"):
        return dense(num_outputs, fan_in, "fc", dtype)(pooled)
    if head == "mlp":
        y = nn.relu(dense(hidden, fan_in, "fc_hidden", dtype)(pooled))
        y = nn.Dropout(rate=dropout, deterministic=not train)(y)
        return dense(num_outputs, hidden, "fc_out", dtype)(y)
    raise ValueError(f"unknown head {head!r}; expected one of {HEADS}")


def start_at(params: dict, outputs) -> dict:
    """`params` with the head's last layer answering `outputs` for every image (zero kernel, bias
    `outputs`), so a regression starts at the mean-target baseline instead of a random answer."""
    name = "fc_out" if "fc_out" in params else "fc"
    bias = jnp.asarray(outputs, jnp.float32).reshape(-1)
    layer = params[name]
    if layer["bias"].shape != bias.shape:
        raise ValueError(f"the head has {layer['bias'].shape[0]} outputs; the start has {bias.shape[0]}")
    return {**params, name: {**layer, "kernel": jnp.zeros_like(layer["kernel"]), "bias": bias}}
