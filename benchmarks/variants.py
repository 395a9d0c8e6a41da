"""Model variants for experiments: drop-in replacements with the same parameters, patched in per process.

The variants that won (docs/BENCHMARKS.md, experiments 14, 16 and 18) are now the library's own
code: `jaxres/models/conv.py` (1x1 convolutions as matmuls, im2col where a map is smaller than the
kernel), `jaxres/models/max_pool.py` (max-pool with a stored argmax) and
`jaxres/train/compiler_options.py` (the XLA:CPU options). Their names are still accepted by
`apply`, as no-ops, so that the experiments recorded with them (`benchmarks/experiments.py`) run
unchanged; they now measure the library as shipped.

What is left to patch in is what was tried and not adopted:

- `conv_im2col_leN`: also im2col + matmul for every 3x3 convolution whose output map has at most
  N pixels (experiment 17: with YNNPACK convolutions 1.05-1.08x, within noise; more memory).
- `conv_chunked_dwN`: the filter gradient of every XLA (spatial) convolution as the sum of
  per-chunk filter gradients over batch chunks of N images, by a custom VJP. YNNPACK's filter
  gradient costs more per image as the batch grows (experiment 19: layer1, batch 64, 495 ms as one
  convolution, 193-207 ms in chunks of 8-16); experiment 22 measures it in the whole step.
- `matmul_autodiff`: the 1x1 (and im2col) matmul with autodiff's gradient, as before experiment 25
  (XLA:CPU copies the output gradient into a (channels, pixels) layout for the filter gradient).
- `conv_tapwise_dw`: the filter gradient of every XLA convolution as one in-place dot per kernel
  tap (3x3) or one im2col dot (larger kernels), the input gradient left to XLA (experiment 26).

A variant keeps the parameter tree (names, shapes) of the original, so `check_gradients` can
compare it against torchvision's gradients with the same weights.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

VARIANTS = ("conv_im2col_le16", "conv_im2col_le64", "conv_im2col_le256", "conv_chunked_dw4", "conv_chunked_dw8",
            "conv_chunked_dw16", "matmul_autodiff", "conv_tapwise_dw")
ADOPTED = ("conv1x1_dot", "maxpool_argmax", "conv_small_im2col")  # the library's defaults now


def apply(names) -> Callable[[], None]:
    """Patch `jaxres.models` in this process so that `models.create` builds the named variants.

    The convolution looks its rule up when the model is traced, so a patch must be in place while
    a step is lowered; returns the function that undoes it.
    """
    from jaxres.models import conv

    unknown = set(names) - set(VARIANTS) - set(ADOPTED)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; known: {VARIANTS + ADOPTED}")
    saved, saved_xla_conv, saved_matmul = conv.uses_im2col, conv.xla_conv, conv._matmul
    limits = [int(n.rsplit("le", 1)[1]) for n in names if n.startswith("conv_im2col_le")]
    if limits:
        def uses_im2col(in_h, in_w, out_h, out_w, k):
            return saved(in_h, in_w, out_h, out_w, k) or out_h * out_w <= max(limits)

        conv.uses_im2col = uses_im2col
    chunks = [int(n.rsplit("dw", 1)[1]) for n in names if n.startswith("conv_chunked_dw")]
    if chunks:
        conv.xla_conv = chunked_filter_gradient(saved_xla_conv, min(chunks))
    if "conv_tapwise_dw" in names:
        conv.xla_conv = tapwise_filter_gradient(saved_xla_conv)
    if "matmul_autodiff" in names:
        conv._matmul = lambda x, w: jax.lax.dot_general(x, w, (((x.ndim - 1,), (0,)), ((), ())))

    def undo():
        conv.uses_im2col, conv.xla_conv, conv._matmul = saved, saved_xla_conv, saved_matmul

    return undo


def with_filter_gradient(xla_conv, filter_gradient):
    """`xla_conv(x, kernel, stride)` with its input gradient from autodiff and its kernel gradient
    from `filter_gradient(x, g, kernel, stride)`: the scaffold the filter-gradient variants share."""

    @partial(jax.custom_vjp, nondiff_argnums=(2,))
    def conv(x, kernel, stride):
        return xla_conv(x, kernel, stride)

    def fwd(x, kernel, stride):
        return xla_conv(x, kernel, stride), (x, kernel)

    def bwd(stride, residual, g):
        x, kernel = residual
        dx = jax.vjp(lambda x_: xla_conv(x_, kernel, stride), x)[1](g)[0]
        return dx, filter_gradient(x, g, kernel, stride)

    conv.defvjp(fwd, bwd)
    return conv


def chunked_filter_gradient(xla_conv, chunk: int):
    """`xla_conv(x, kernel, stride)` whose kernel gradient is summed over batch chunks of `chunk` images."""

    def filter_gradient(x, g, kernel, stride):
        def kernel_grad(xs, gs):
            return jax.vjp(lambda k_: xla_conv(xs, k_, stride), kernel)[1](gs)[0]

        parts = [kernel_grad(x[i:i + chunk], g[i:i + chunk]) for i in range(0, x.shape[0], chunk)]
        return functools.reduce(jnp.add, parts)

    return with_filter_gradient(xla_conv, filter_gradient)


def tapwise_filter_gradient(xla_conv):
    """`xla_conv(x, kernel, stride)` whose kernel gradient contracts each tap's view of the input with
    the output gradient in one dot (3x3), or all taps' views at once, im2col-style (larger kernels)."""
    from jaxres.models import conv as conv_lib

    def filter_gradient(x, g, kernel, stride):
        k = kernel.shape[0]
        pad = (k - 1) // 2
        xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        rows = g.reshape(-1, g.shape[-1])
        taps = list(conv_lib.window_taps(xp, k, stride, g.shape[1], g.shape[2]))
        contract = (((0,), (0,)), ((), ()))
        if k > 3:
            patches = jnp.concatenate(taps, axis=-1)
            dw = jax.lax.dot_general(patches.reshape(-1, patches.shape[-1]), rows, contract)
        else:
            dw = jnp.stack([jax.lax.dot_general(t.reshape(-1, x.shape[-1]), rows, contract) for t in taps])
        return dw.reshape(k, k, x.shape[-1], g.shape[-1])

    return with_filter_gradient(xla_conv, filter_gradient)


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
