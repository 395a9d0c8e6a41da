"""Model variants tried while closing the gap to PyTorch: drop-in replacements, same parameters.

Each variant is applied by patching `jaxres.models` inside a benchmark subprocess only; the library
is untouched. A variant keeps the parameter tree (names, shapes) of the original, so
`check_gradients` can compare it against torchvision's gradients with the same weights.

- `conv1x1_dot`: 1x1 convolutions as `lax.dot_general` over the channel axis (a stride-2 1x1 conv
  is a strided slice, then the same matmul). The backward pass is then two plain matmuls instead
  of a convolution whose filter gradient XLA computes on transposed copies of the activations.
- `maxpool_argmax`: the stem's 3x3/2 max-pool with a custom VJP that, like PyTorch's
  `max_pool2d_with_indices`, remembers which of the 9 window taps won (the first maximum in row-major
  order, as PyTorch picks it) and routes the gradient there. XLA's own gradient of `reduce_window`
  max is a `select_and_scatter`, which XLA:CPU lowers to a variadic reduce-window carrying four
  int32 index arrays of the padded input's size.
- `conv_small_im2col`: 3x3 (k>1) convolutions whose input or output map is smaller than the kernel
  as im2col + one matmul (XLA's fast convolution paths reject them). `conv_im2col_leN` also does it
  for every output map of at most N pixels (an experiment; not recommended).

`RECOMMENDED_VARIANTS` and `recommended_options` are the configuration docs/BENCHMARKS.md
recommends, measured as the "jaxres+rec" column by `python -m benchmarks.run`.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

VARIANTS = ("conv1x1_dot", "maxpool_argmax", "conv_small_im2col", "conv_im2col_le16", "conv_im2col_le64",
            "conv_im2col_le256")


# ------------------------------------------------------------------------------ 1x1 conv as matmul
class Conv1x1Dot(nn.Module):
    """A bias-free 1x1 convolution computed as a matmul; parameter `kernel` (1, 1, C, K) as nn.Conv's."""

    features: int
    stride: int = 1
    dtype: Any = jnp.float32
    kernel_init: Any = None

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", self.kernel_init, (1, 1, x.shape[-1], self.features), jnp.float32)
        if self.stride != 1:
            x = x[:, :: self.stride, :: self.stride, :]
        x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
        return jax.lax.dot_general(x, kernel[0, 0], (((x.ndim - 1,), (0,)), ((), ())))


# ----------------------------------------------------------- small convolutions as im2col + matmul
class Conv2d(nn.Module):
    """nn.Conv's bias-free convolution (same `kernel` parameter), choosing its algorithm by shape.

    XLA:CPU hands a convolution to YNNPACK only when the input is at least as large as the kernel;
    a 3x3 convolution on a 2x2 map (ResNet-50's layer4 at 64x64 inputs), and the backward-data
    convolution of a stride-2 one producing 2x2, fall back to a generic Eigen loop that runs at
    ~1 GFLOP/s (530 ms for 32x2x2x512 -> 512, where the same arithmetic as a matmul takes 7 ms).
    Such maps are tiny, so gathering the kernel*kernel shifted views (im2col) costs nothing and
    the convolution becomes one matmul.
    """

    features: int
    kernel_size: int
    stride: int = 1
    dtype: Any = jnp.float32
    kernel_init: Any = None
    im2col_max_pixels: int = 0  # also im2col when the output map has at most this many pixels

    @nn.compact
    def __call__(self, x):
        k, s = self.kernel_size, self.stride
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features), jnp.float32)
        x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
        pad = (k - 1) // 2
        out_h, out_w = (x.shape[1] + 2 * pad - k) // s + 1, (x.shape[2] + 2 * pad - k) // s + 1
        if k > 1 and (min(x.shape[1], x.shape[2], out_h, out_w) < k or out_h * out_w <= self.im2col_max_pixels):
            return _im2col_conv(x, kernel, s, pad, out_h, out_w)
        return jax.lax.conv_general_dilated(x, kernel, (s, s), ((pad, pad), (pad, pad)),
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _im2col_conv(x, kernel, stride, pad, out_h, out_w):
    k = kernel.shape[0]
    n, _, _, c = x.shape
    xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    views = [jax.lax.slice(xp, (0, i, j, 0), (n, i + stride * (out_h - 1) + 1, j + stride * (out_w - 1) + 1, c),
                           (1, stride, stride, 1)) for i in range(k) for j in range(k)]
    patches = jnp.concatenate(views, axis=-1)  # (n, out_h, out_w, k*k*c), (i, j, c) order like HWIO
    return jax.lax.dot_general(patches, kernel.reshape(k * k * c, -1), (((3,), (0,)), ((), ())))


# ------------------------------------------------------------------------ max-pool with indices
def _taps(x, window: int, stride: int, pad: int):
    """The window*window strided views of the -inf-padded input, each shaped like the output."""
    n, h, w, c = x.shape
    xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-jnp.inf)
    oh, ow = (h + 2 * pad - window) // stride + 1, (w + 2 * pad - window) // stride + 1
    for i in range(window):
        for j in range(window):
            yield jax.lax.slice(xp, (0, i, j, 0), (n, i + stride * (oh - 1) + 1, j + stride * (ow - 1) + 1, c),
                                (1, stride, stride, 1))


def _pool_with_index(x, window, stride, pad):
    """Max and int8 argmax over the window taps; the first maximum wins, as in PyTorch.

    XLA fuses this compare/select chain into the backward and recomputes it there (several ways
    to make it store the index instead, an optimization barrier, an argmax reduction, an
    "expensive" op on the index, were slower or ignored; see docs/BENCHMARKS.md). Even so the
    backward costs a fraction of XLA's select-and-scatter.
    """
    best, index = None, None
    for k, tap in enumerate(_taps(x, window, stride, pad)):
        if best is None:
            best, index = tap, jnp.zeros(tap.shape, jnp.int8)
        else:
            better = tap > best  # strict: the first maximum wins, as in PyTorch
            best, index = jnp.where(better, tap, best), jnp.where(better, jnp.int8(k), index)
    return best, index


def max_pool_argmax(x, window: int = 3, stride: int = 2, pad: int = 1):
    return _max_pool(x, window, stride, pad)


def _make_max_pool():
    from functools import partial

    @partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
    def pool(x, window, stride, pad):
        return _pool_with_index(x, window, stride, pad)[0]

    def fwd(x, window, stride, pad):
        y, index = _pool_with_index(x, window, stride, pad)
        return y, (index, x.shape)

    def bwd(window, stride, pad, residual, g):
        """Scatter g to the winning taps, one stride-phase plane of the padded input at a time.

        Padded row P = stride*a + i receives from output row a through tap i, so the rows of one
        phase (P mod stride) form a dense array fed by the taps i = phase, phase + stride, ...,
        shifted by i // stride. The phase planes are then interleaved by a reshape: no scatter,
        no interior padding, every pass dense.
        """
        index, shape = residual
        n, h, w, c = shape
        oh, ow = g.shape[1], g.shape[2]
        reach = (window - 1) // stride  # the largest shift
        planes = []
        for pi in range(stride):
            row = []
            for pj in range(stride):
                plane = jnp.zeros((n, oh + reach, ow + reach, c), g.dtype)
                for i in range(pi, window, stride):
                    for j in range(pj, window, stride):
                        contrib = jnp.where(index == window * i + j, g, jnp.zeros((), g.dtype))
                        di, dj = i // stride, j // stride
                        plane = plane + jnp.pad(contrib, ((0, 0), (di, reach - di), (dj, reach - dj), (0, 0)))
                row.append(plane)
            planes.append(jnp.stack(row, axis=3))  # (n, oh+r, ow+r, stride_j, c)
        dx = jnp.stack(planes, axis=2)  # (n, oh+r, stride_i, ow+r, stride_j, c)
        dx = dx.reshape(n, (oh + reach) * stride, (ow + reach) * stride, c)
        # Padded rows past the last window (when (h + 2 pad - window) % stride > pad) get nothing.
        short_h, short_w = max(0, pad + h - dx.shape[1]), max(0, pad + w - dx.shape[2])
        if short_h or short_w:
            dx = jnp.pad(dx, ((0, 0), (0, short_h), (0, short_w), (0, 0)))
        return (dx[:, pad:pad + h, pad:pad + w, :],)

    pool.defvjp(fwd, bwd)
    return pool


_max_pool = _make_max_pool()


# ------------------------------------------------------------------------------ the recommendation
RECOMMENDED_VARIANTS = ("conv_small_im2col", "maxpool_argmax", "conv1x1_dot")


def recommended_options(arch: str, threads: int, backend: str = "cpu") -> dict:
    """XLA:CPU options of the recommended configuration (docs/BENCHMARKS.md, "closing the gap").

    Always: region-based copy insertion, which drops the ~500 defensive copies of the donated
    parameters and Adam moments per step. For BasicBlock ResNets (18/34) on more than one thread:
    spatial convolutions in XLA's Eigen runtime instead of YNNPACK, whose convolutions run on a
    single thread; matmuls stay in YNNPACK. (For Bottleneck ResNets most work is 1x1 convolutions,
    which the model then computes as YNNPACK matmuls, and YNNPACK's 3x3 convolutions win there.)
    """
    if backend != "cpu":
        return {}
    options = {"xla_cpu_copy_insertion_use_region_analysis": True}
    if arch in ("resnet18", "resnet34") and threads > 1:
        options["xla_cpu_experimental_ynn_fusion_type"] = "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"
    return options


# ---------------------------------------------------------------------------------------- patching
def apply(names) -> Callable[[], None]:
    """Patch `jaxres.models` in this process so that `models.create` builds the named variants.

    The model's modules look these names up when the model is traced, so a patch must be in place
    while a step is lowered; returns the function that undoes it.
    """
    from jaxres.models import blocks, resnet

    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; known: {VARIANTS}")
    saved = {"blocks.conv": blocks.conv, "resnet.conv": resnet.conv, "resnet.nn": resnet.nn}
    if "conv1x1_dot" in names:
        original = blocks.conv

        def conv(features, kernel, stride, name, dtype):
            if kernel != 1:
                return original(features, kernel, stride, name, dtype)
            return Conv1x1Dot(features, stride, dtype, blocks.CONV_INIT, name=name)

        blocks.conv = conv
        resnet.conv = conv
    im2col = [n for n in names if n.startswith("conv_im2col_le") or n == "conv_small_im2col"]
    if im2col:
        inner = blocks.conv
        max_pixels = max(int(n.rsplit("le", 1)[1]) if "_le" in n else 0 for n in im2col)

        def conv(features, kernel, stride, name, dtype):
            if kernel == 1 and inner is not saved["blocks.conv"]:
                return inner(features, kernel, stride, name, dtype)  # conv1x1_dot's matmul
            return Conv2d(features, kernel, stride, dtype, blocks.CONV_INIT, max_pixels, name=name)

        blocks.conv = conv
        resnet.conv = conv
    if "maxpool_argmax" in names:
        class _NN:  # `resnet.nn` with max_pool swapped; everything else is flax.linen
            def __getattr__(self, name):
                return getattr(nn, name)

            @staticmethod
            def max_pool(x, window_shape, strides, padding):
                assert window_shape == (3, 3) and strides == (2, 2) and padding == ((1, 1), (1, 1))
                return max_pool_argmax(x, 3, 2, 1)

        resnet.nn = _NN()

    def undo():
        blocks.conv, resnet.conv, resnet.nn = saved["blocks.conv"], saved["resnet.conv"], saved["resnet.nn"]

    return undo


def torch_gradients(arch: str, size: int, batch: int, seed: int = 0, double: bool = False):
    """torchvision's model, its state dict, a batch and its parameter gradients of mean(outputs**2).

    `double`: computed in float64, the reference that float32 rounding of either framework is
    measured against (BatchNorm-bias gradients are sums with heavy cancellation; float32 vs float32
    comparisons of them differ by percents even between two correct implementations).
    """
    import torch
    from torch_reference import torchvision_resnet

    torch.manual_seed(seed)
    tmodel = torchvision_resnet(arch, 10).train()
    state_dict = {k: v.detach().numpy().copy() for k, v in tmodel.state_dict().items()}
    x = np.random.default_rng(seed).standard_normal((batch, size, size, 3)).astype(np.float32)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    if double:
        tmodel, xt = tmodel.double(), xt.double()
    (tmodel(xt) ** 2).mean().backward()
    return state_dict, x, {name: p.grad.double().numpy() for name, p in tmodel.named_parameters()}


def jax_gradients(arch: str, state_dict: dict, x) -> dict:
    """The same gradients from jaxres (as patched now), in torchvision's names and layouts."""
    from jaxres import models, weights

    model = models.create(arch, 10, 3, "linear")
    variables = weights.load_torchvision(state_dict, model)

    def loss_of(params):
        out, _ = model.apply({"params": params, "batch_stats": variables["batch_stats"]}, jnp.asarray(x),
                             train=True, mutable=["batch_stats"])
        return jnp.mean(out ** 2)

    grads = jax.jit(jax.grad(loss_of))(variables["params"])
    converted = weights.to_torchvision({"params": grads, "batch_stats": variables["batch_stats"]}, model)
    return {k: np.asarray(v) for k, v in converted.items()}


def worst_difference(a: dict, b: dict) -> tuple[float, str]:
    """max over tensors of ||a - b|| / ||b||, and where."""
    worst, where = 0.0, ""
    for name, ref in b.items():
        err = float(np.linalg.norm(a[name] - ref) / (np.linalg.norm(ref) + 1e-30))
        if err > worst:
            worst, where = err, name
    return worst, where


def check_gradients(names, arch: str = "resnet50", size: int = 64, batch: int = 8) -> dict:
    """Gradients of the unpatched model and of the variants vs torchvision's, and vs each other."""
    state_dict, x, ref64 = torch_gradients(arch, size, batch, double=True)
    _, _, torch32 = torch_gradients(arch, size, batch)
    base = jax_gradients(arch, state_dict, x)
    apply(names)
    patched = jax_gradients(arch, state_dict, x)
    return {"variants": list(names), "arch": arch, "size": size, "batch": batch,
            "torch_f32_vs_f64": worst_difference(torch32, ref64),
            "jaxres_vs_f64": worst_difference(base, ref64),
            "variant_vs_f64": worst_difference(patched, ref64),
            "variant_vs_jaxres": worst_difference(patched, base)}
