"""The two ResNet blocks; a projection shortcut (`downsample_conv` + `downsample_bn`) sits exactly where
torchvision builds `downsample`, otherwise the shortcut is the identity."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxres.models.batch_norm import BatchNorm
from jaxres.models.conv import Conv2d

# `conv(features, kernel_size, stride, dtype=..., name=...)`: a flax Module computing a bias-free
# convolution padded like torchvision, (k - 1) // 2, whose one parameter is `kernel` (k, k, in, out).
ConvDef = Callable[..., nn.Module]


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
