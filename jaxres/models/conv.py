"""A bias-free convolution padded like torchvision, (k - 1) // 2 (never 'SAME', which shifts even inputs),
and torchvision's max-pool.

The convolution's parameter is nn.Conv's `kernel` (k, k, in, out); on XLA:CPU 1x1 convs run as a matmul and
maps smaller than the kernel as im2col, where XLA's convolution is slow (docs/BENCHMARKS.md). The max-pool
(-inf padding) routes each gradient to the stored winning tap (XLA:CPU's select-and-scatter is slow); the first
maximum in row-major order wins, NaN wins over all."""

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


def _pool_with_index(x, window: int, stride: int, pad: int):
    """The max and the int8 index (i * window + j) of the tap it came from."""
    assert window * window <= 127, "the tap index is stored as int8"
    xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-jnp.inf)
    out_h, out_w = output_size(x.shape[1], window, stride, pad), output_size(x.shape[2], window, stride, pad)
    taps = window_taps(xp, window, stride, out_h, out_w)
    best = next(taps)
    index = jnp.zeros(best.shape, jnp.int8)
    for k, tap in enumerate(taps, start=1):
        # Strict '>': an equal later value does not take over (first maximum wins); a later NaN does.
        better = (tap > best) | jnp.isnan(tap)
        best, index = jnp.where(better, tap, best), jnp.where(better, jnp.int8(k), index)
    return best, index


@partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def max_pool(x, window: int = 3, stride: int = 2, pad: int = 1):
    """(N, H, W, C) -> max over window x window, stride `stride`, `pad` rows/columns of -inf each side."""
    return _pool_with_index(x, window, stride, pad)[0]


def _max_pool_fwd(x, window, stride, pad):
    y, index = _pool_with_index(x, window, stride, pad)
    return y, (index, x.shape)


def _max_pool_bwd(window, stride, pad, residual, g):
    """Each output's gradient to its winning tap, one dense plane per stride phase of the padded input
    (taps i = phase, phase + stride, ... shifted by i // stride), interleaved by a reshape: no scatter."""
    index, (n, h, w, c) = residual
    out_h, out_w = g.shape[1], g.shape[2]
    reach = (window - 1) // stride
    zero = jnp.zeros((), g.dtype)

    def plane(phase_i, phase_j):
        total = jnp.zeros((n, out_h + reach, out_w + reach, c), g.dtype)
        for i in range(phase_i, window, stride):
            for j in range(phase_j, window, stride):
                di, dj = i // stride, j // stride
                won = jnp.where(index == i * window + j, g, zero)
                total = total + jnp.pad(won, ((0, 0), (di, reach - di), (dj, reach - dj), (0, 0)))
        return total

    rows = [jnp.stack([plane(pi, pj) for pj in range(stride)], axis=3) for pi in range(stride)]
    dxp = jnp.stack(rows, axis=2).reshape(n, (out_h + reach) * stride, (out_w + reach) * stride, c)
    # Padded rows past the last window get no gradient; they may be missing from the planes.
    short_h, short_w = max(0, pad + h - dxp.shape[1]), max(0, pad + w - dxp.shape[2])
    dxp = jnp.pad(dxp, ((0, 0), (0, short_h), (0, short_w), (0, 0)))
    return (dxp[:, pad:pad + h, pad:pad + w, :],)


max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)
