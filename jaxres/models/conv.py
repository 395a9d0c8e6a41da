"""A bias-free 2-D convolution padded like torchvision, computed by the algorithm that suits its shape.

The parameter is exactly nn.Conv's (`kernel`, HWIO `(k, k, in, out)`, float32), so weights,
checkpoints and the torchvision mapping cannot tell the difference; only the computation differs,
and only in float32 summation order (docs/BENCHMARKS.md, "Adopted in the library"):

- 1x1: a matmul over the channel axis (stride s: take every s-th pixel first, which is what an
  unpadded 1x1 convolution with stride s reads). Its backward is then two matmuls, written out
  (`_matmul_bwd`) so that the filter gradient reads the activations and the output gradient where
  they lie; as a convolution, or as autodiff's matmul, XLA:CPU first made transposed copies of them.
- k > 1 on a map smaller than the kernel (input or output side; ResNet-50's layer4 at 64x64
  inputs is 2x2): im2col and one matmul. XLA:CPU gives such convolutions, and their backward, to
  a slow generic loop; the maps are tiny, so gathering the k*k shifted views costs nothing.
- otherwise XLA's convolution, padded (k - 1) // 2 on every side, never 'SAME' ('SAME' pads
  (0, 1) on even inputs with stride 2 and shifts every output by half a pixel).

`Conv2d` is the ResNet's default `conv`; a model built with another computes the same layers
another way (`Conv2d(..., compute=xla_conv)`: XLA's convolution everywhere).
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


def uses_im2col(in_h: int, in_w: int, out_h: int, out_w: int, k: int) -> bool:
    """Im2col where some map is smaller than the kernel: there XLA:CPU's convolution is slowest."""
    return min(in_h, in_w, out_h, out_w) < k


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
    """x (..., C) @ w (C, K). The gradient is written out for the filter's sake, see `_matmul_bwd`."""
    return jax.lax.dot_general(x, w, (((x.ndim - 1,), (0,)), ((), ())))


def _matmul_fwd(x, w):
    return _matmul(x, w), (x, w)


def _matmul_bwd(residuals, dy):
    """dx = dy @ w.T; dw = x.T @ dy as one dot contracting the leading (batch * pixels) axis of both.

    Autodiff's filter gradient contracts dy's leading axis with x's, and XLA:CPU first copies dy into
    a (K, batch * pixels) layout for it: for ResNet-50's 1x1 convolutions that copy of the largest
    activations was most of their backward. Written this way the dot takes both operands as they
    lie, and gives the same numbers bit for bit.
    """
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
    if uses_im2col(x.shape[1], x.shape[2], out_h, out_w, k):
        xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        patches = jnp.concatenate(list(window_taps(xp, k, stride, out_h, out_w)), axis=-1)
        return _matmul(patches, kernel.reshape(k * k * x.shape[-1], -1))  # (i, j, c) order, as HWIO
    return xla_conv(x, kernel, stride)


def conv2d(x, kernel, stride: int):
    """x (N, H, W, C) * kernel (k, k, C, K), stride `stride`, torchvision's padding (k - 1) // 2.

    The shape rules above are XLA:CPU's (`cpu_conv2d`). Other
    platforms (cuDNN on a GPU) take XLA's convolution for every shape: there the matmul forms only
    cost copies, and XLA:GPU's Triton GEMM fusion (jaxlib 0.11.2) aborts the compiler on the im2col
    one. `platform_dependent` picks per platform at lowering, so one exported artifact (lowered for
    cpu and cuda at once) gets each its own form.
    """
    return jax.lax.platform_dependent(x, kernel, cpu=partial(cpu_conv2d, stride=stride),
                                      default=partial(xla_conv, stride=stride))


class Conv2d(nn.Module):
    """`nn.Conv(features, (k, k), strides=s, padding=torchvision's, use_bias=False)`, same parameter.

    `compute(x, kernel, stride)` is the algorithm: `conv2d` (by platform and shape) unless given.
    """

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
