"""A bias-free convolution padded like torchvision, (k - 1) // 2 (never 'SAME', which shifts even inputs).

Its parameter is nn.Conv's `kernel` (k, k, in, out); on XLA:CPU 1x1 convs run as a matmul and maps
smaller than the kernel as im2col, where XLA's convolution is slow (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu"), an untruncated normal.
CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")

_NHWC = ("NHWC", "HWIO", "NHWC")


def xla_conv(x, kernel, stride: int):
    """XLA's own convolution with torchvision's padding."""
    pad = (kernel.shape[0] - 1) // 2
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((pad, pad), (pad, pad)),
                                        dimension_numbers=_NHWC)


def output_size(size: int, window: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - window) // stride + 1


def window_taps(xp, window: int, stride: int, out_h: int, out_w: int) -> Iterator[jax.Array]:
    """The window*window strided views of an already padded input, each shaped (N, out_h, out_w, C), row-major."""
    n, c = xp.shape[0], xp.shape[-1]
    for i in range(window):
        for j in range(window):
            yield jax.lax.slice(xp, (0, i, j, 0), (n, i + stride * (out_h - 1) + 1, j + stride * (out_w - 1) + 1, c),
                                (1, stride, stride, 1))


@jax.custom_vjp
def _matmul(x, w):
    """x (..., C) @ w (C, K), with the gradient of `_matmul_bwd`."""
    return jax.lax.dot_general(x, w, (((x.ndim - 1,), (0,)), ((), ())))


def _matmul_fwd(x, w):
    return _matmul(x, w), (x, w)


def _matmul_bwd(residuals, dy):
    """dw = x.T @ dy as one dot over both operands as they lie (autodiff's form made XLA:CPU transpose dy)."""
    x, w = residuals
    dx = jax.lax.dot_general(dy, w, (((dy.ndim - 1,), (1,)), ((), ())))
    rows = x.reshape(-1, x.shape[-1])
    dw = jax.lax.dot_general(rows, dy.reshape(-1, dy.shape[-1]), (((0,), (0,)), ((), ())))
    return dx, dw.astype(w.dtype)


_matmul.defvjp(_matmul_fwd, _matmul_bwd)


def cpu_conv2d(x, kernel, stride: int):
    """`conv2d` as XLA:CPU runs it fastest (module docstring)."""
    k = kernel.shape[0]
    pad = (k - 1) // 2
    if k == 1:
        return _matmul(x[:, ::stride, ::stride, :], kernel[0, 0])
    out_h, out_w = output_size(x.shape[1], k, stride, pad), output_size(x.shape[2], k, stride, pad)
    if min(x.shape[1], x.shape[2], out_h, out_w) < k:  # a map smaller than the kernel: XLA:CPU's slowest case
        xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        patches = jnp.concatenate(list(window_taps(xp, k, stride, out_h, out_w)), axis=-1)
        return _matmul(patches, kernel.reshape(k * k * x.shape[-1], -1))  # (i, j, c) order, as HWIO
    return xla_conv(x, kernel, stride)


def conv2d(x, kernel, stride: int):
    """x (N, H, W, C) * kernel (k, k, C, K): `cpu_conv2d` on the CPU, XLA's convolution elsewhere, chosen
    per platform at lowering so a multi-platform export gets each its own form."""
    return jax.lax.platform_dependent(x, kernel, cpu=partial(cpu_conv2d, stride=stride),
                                      default=partial(xla_conv, stride=stride))


class Conv2d(nn.Module):
    """`nn.Conv(features, (k, k), strides=s, padding=torchvision's, use_bias=False)` computed by `compute`."""

    features: int
    kernel_size: int
    stride: int = 1
    dtype: Any = jnp.float32
    compute: Callable[[jax.Array, jax.Array, int], jax.Array] = conv2d

    @nn.compact
    def __call__(self, x):
        k = self.kernel_size
        kernel = self.param("kernel", CONV_INIT, (k, k, x.shape[-1], self.features), jnp.float32)
        return self.compute(x.astype(self.dtype), kernel.astype(self.dtype), self.stride)
