"""The two ResNet blocks; a projection shortcut (`downsample_conv` + `downsample_bn`) sits exactly where
torchvision builds `downsample`, otherwise the shortcut is the identity. BatchNorm is torch's: the running
variance moves with the unbiased batch variance (Flax's uses the biased one), statistics are float32."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxres.models.conv import Conv2d

# `conv(features, kernel_size, stride, dtype=..., name=...)`: a flax Module computing a bias-free
# convolution padded like torchvision, (k - 1) // 2, whose one parameter is `kernel` (k, k, in, out).
ConvDef = Callable[..., nn.Module]


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


def drop_path(module: nn.Module, branch, rate: float, deterministic: bool):
    """Stochastic depth: in training drop each sample's branch with probability `rate`, else scale it by
    1 / (1 - rate), so evaluation uses the whole branch unchanged in expectation."""
    if deterministic or rate <= 0.0:
        return branch
    keep = 1.0 - rate
    mask = jax.random.bernoulli(module.make_rng("dropout"), keep, (branch.shape[0],) + (1,) * (branch.ndim - 1))
    return jnp.where(mask, branch / keep, 0).astype(branch.dtype)


class _Block(nn.Module):
    """A residual block: `branch` (the subclass's convolutions) plus the shortcut, then ReLU."""

    width: int
    stride: int = 1
    downsample: bool = False
    dtype: Any = jnp.float32
    conv: ConvDef = Conv2d
    zero_init_residual: bool = False  # last BN's scale starts at 0: the block starts as its shortcut
    drop_path: float = 0.0  # probability that training drops a sample's residual branch (stochastic depth)
    expansion = 1

    @nn.compact
    def __call__(self, x, use_running_average: bool):
        bn = lambda name, zero_scale=False: BatchNorm(use_running_average, dtype=self.dtype, zero_scale=zero_scale,
                                                      name=name)
        conv = partial(self.conv, dtype=self.dtype)
        y = drop_path(self, self.branch(x, bn, conv), self.drop_path, deterministic=use_running_average)
        shortcut = x
        if self.downsample:
            out = self.width * self.expansion
            shortcut = bn("downsample_bn")(conv(out, 1, self.stride, name="downsample_conv")(x))
        return nn.relu(y + shortcut)


class BasicBlock(_Block):
    """Two 3×3 convs (ResNet-18/34)."""

    def branch(self, x, bn, conv):
        y = nn.relu(bn("bn1")(conv(self.width, 3, self.stride, name="conv1")(x)))
        return bn("bn2", self.zero_init_residual)(conv(self.width, 3, 1, name="conv2")(y))


class Bottleneck(_Block):
    """1×1 reduce, 3×3, 1×1 expand (ResNet-50/101/152), v1.5: the stride sits on the 3×3 conv."""

    expansion = 4

    def branch(self, x, bn, conv):
        y = nn.relu(bn("bn1")(conv(self.width, 1, 1, name="conv1")(x)))
        y = nn.relu(bn("bn2")(conv(self.width, 3, self.stride, name="conv2")(y)))
        return bn("bn3", self.zero_init_residual)(conv(self.width * self.expansion, 1, 1, name="conv3")(y))
