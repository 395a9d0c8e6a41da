"""Convolution variants: other ways to compute the ResNet's convolutions, passed to the model as its `conv`.

A variant replaces parts of the library's CPU rule (`jaxres.models.conv.cpu_conv2d`) and is
`Conv2d` with that computation, so the model keeps its parameter tree (names, shapes) and
`check_gradients` can compare it against torchvision's gradients with the same weights. None was
adopted (docs/BENCHMARKS.md, "Experiments"); each is kept to measure the library against:

- `conv_im2col_leN`: also im2col + matmul for every convolution whose output map has at most N
  pixels (small maps are where XLA's convolutions are weakest).
- `conv_chunked_dwN`: the filter gradient of every XLA (spatial) convolution as the sum of
  per-chunk filter gradients over batch chunks of N images (YNNPACK's filter gradient costs more
  per image as the batch grows).
- `matmul_autodiff`: the 1x1 (and im2col) matmul with autodiff's gradient, the library's former
  one (XLA:CPU copies the output gradient into a (channels, pixels) layout for the filter gradient).
- `conv_tapwise_dw`: the filter gradient of every XLA convolution as one in-place dot per kernel
  tap (3x3) or one im2col dot (larger kernels), the input gradient left to XLA.
"""

from __future__ import annotations

import functools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxres.models.conv import Conv2d, conv2d, uses_im2col, window_taps, xla_conv

VARIANTS = ("conv_im2col_le16", "conv_im2col_le64", "conv_im2col_le256", "conv_chunked_dw4", "conv_chunked_dw8",
            "conv_chunked_dw16", "matmul_autodiff", "conv_tapwise_dw")


def conv_with(names):
    """The ResNet `conv` that computes with all the named variants at once (None: the library's own)."""
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; known: {VARIANTS}")
    if not names:
        return None
    rule = {}
    limits = [int(n.rsplit("le", 1)[1]) for n in names if n.startswith("conv_im2col_le")]
    if limits:
        rule["im2col"] = partial(_im2col_up_to, max(limits))
    chunks = [int(n.rsplit("dw", 1)[1]) for n in names if n.startswith("conv_chunked_dw")]
    if chunks:
        rule["spatial"] = chunked_filter_gradient(xla_conv, min(chunks))
    if "conv_tapwise_dw" in names:
        rule["spatial"] = tapwise_filter_gradient(xla_conv)
    if "matmul_autodiff" in names:
        rule["matmul"] = lambda x, w: jax.lax.dot_general(x, w, (((x.ndim - 1,), (0,)), ((), ())))
    return partial(Conv2d, compute=partial(conv2d, **rule))


def with_variants(model, names):
    """`model` computing its convolutions with the named variants."""
    conv = conv_with(names)
    return model if conv is None else model.clone(conv=conv)


def _im2col_up_to(limit: int, in_h: int, in_w: int, out_h: int, out_w: int, k: int) -> bool:
    return uses_im2col(in_h, in_w, out_h, out_w, k) or out_h * out_w <= limit


def with_filter_gradient(spatial, filter_gradient):
    """`spatial(x, kernel, stride)` with its input gradient from autodiff and its kernel gradient
    from `filter_gradient(x, g, kernel, stride)`: the scaffold the filter-gradient variants share."""

    @partial(jax.custom_vjp, nondiff_argnums=(2,))
    def conv(x, kernel, stride):
        return spatial(x, kernel, stride)

    def fwd(x, kernel, stride):
        return spatial(x, kernel, stride), (x, kernel)

    def bwd(stride, residual, g):
        x, kernel = residual
        dx = jax.vjp(lambda x_: spatial(x_, kernel, stride), x)[1](g)[0]
        return dx, filter_gradient(x, g, kernel, stride)

    conv.defvjp(fwd, bwd)
    return conv


def chunked_filter_gradient(spatial, chunk: int):
    """`spatial(x, kernel, stride)` whose kernel gradient is summed over batch chunks of `chunk` images."""

    def filter_gradient(x, g, kernel, stride):
        def kernel_grad(xs, gs):
            return jax.vjp(lambda k_: spatial(xs, k_, stride), kernel)[1](gs)[0]

        parts = [kernel_grad(x[i:i + chunk], g[i:i + chunk]) for i in range(0, x.shape[0], chunk)]
        return functools.reduce(jnp.add, parts)

    return with_filter_gradient(spatial, filter_gradient)


def tapwise_filter_gradient(spatial):
    """`spatial(x, kernel, stride)` whose kernel gradient contracts each tap's view of the input with
    the output gradient in one dot (3x3), or all taps' views at once, im2col-style (larger kernels)."""

    def filter_gradient(x, g, kernel, stride):
        k = kernel.shape[0]
        pad = (k - 1) // 2
        xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        rows = g.reshape(-1, g.shape[-1])
        taps = list(window_taps(xp, k, stride, g.shape[1], g.shape[2]))
        contract = (((0,), (0,)), ((), ()))
        if k > 3:
            patches = jnp.concatenate(taps, axis=-1)
            dw = jax.lax.dot_general(patches.reshape(-1, patches.shape[-1]), rows, contract)
        else:
            dw = jnp.stack([jax.lax.dot_general(t.reshape(-1, x.shape[-1]), rows, contract) for t in taps])
        return dw.reshape(k, k, x.shape[-1], g.shape[-1])

    return with_filter_gradient(spatial, filter_gradient)


def torch_gradients(arch: str, size: int, batch: int, seed: int = 0, double: bool = False):
    """torchvision's model, its state dict, a batch and its parameter gradients of mean(outputs**2).

    `double`: computed in float64, the reference that float32 rounding of either framework is
    measured against (BatchNorm-bias gradients are sums with heavy cancellation; float32 vs float32
    comparisons of them differ by percents even between two correct implementations).
    """
    import torch

    from benchmarks.torch_models import torchvision_resnet

    torch.manual_seed(seed)
    tmodel = torchvision_resnet(arch, 10).train()
    state_dict = {k: v.detach().numpy().copy() for k, v in tmodel.state_dict().items()}
    x = np.random.default_rng(seed).standard_normal((batch, size, size, 3)).astype(np.float32)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    if double:
        tmodel, xt = tmodel.double(), xt.double()
    (tmodel(xt) ** 2).mean().backward()
    return state_dict, x, {name: p.grad.double().numpy() for name, p in tmodel.named_parameters()}


def jax_gradients(arch: str, state_dict: dict, x, names=()) -> dict:
    """The same gradients from jaxres (with the named variants), in torchvision's names and layouts."""
    from jaxres import models, weights

    model = with_variants(models.create(arch, 10, 3, "linear"), names)
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
    """Gradients of the library and of the variants vs torchvision's float64 ones, and vs each other."""
    state_dict, x, ref64 = torch_gradients(arch, size, batch, double=True)
    _, _, torch32 = torch_gradients(arch, size, batch)
    base = jax_gradients(arch, state_dict, x)
    variant = jax_gradients(arch, state_dict, x, names)
    return {"variants": list(names), "arch": arch, "size": size, "batch": batch,
            "torch_f32_vs_f64": worst_difference(torch32, ref64),
            "jaxres_vs_f64": worst_difference(base, ref64),
            "variant_vs_f64": worst_difference(variant, ref64),
            "variant_vs_jaxres": worst_difference(variant, base)}
