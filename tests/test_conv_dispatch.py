"""The shape-dispatched convolution and the argmax max-pool against XLA's plain ops: values and gradients.

The reference is what the library computed before (and what torchvision computes): a
`lax.conv_general_dilated` with torchvision's padding, and a `lax.reduce_window` max over the
input padded with -inf. Gradients are `jax.grad` of a random projection of the output.
"""

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxres.models.conv import Conv2d, conv2d, cpu_conv2d, max_pool


def reference_conv(x, kernel, stride):
    pad = (kernel.shape[0] - 1) // 2
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((pad, pad), (pad, pad)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def reference_pool(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1),
                                 ((0, 0), (1, 1), (1, 1), (0, 0)))


def value_and_grads(fn, *args):
    """fn(*args) and the gradient of <fn(*args), a fixed random cotangent> w.r.t. every argument."""
    out = fn(*args)
    cotangent = jnp.asarray(np.random.default_rng(1).standard_normal(out.shape), out.dtype)
    return out, jax.grad(lambda *a: jnp.sum(fn(*a) * cotangent), argnums=tuple(range(len(args))))(*args)


def primitives(fn, *args) -> set[str]:
    """Every primitive of fn's jaxpr, inside custom-gradient and other sub-jaxprs too."""
    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            yield eqn.primitive.name
            for value in eqn.params.values():
                inner = getattr(value, "jaxpr", value)
                if hasattr(inner, "eqns"):
                    yield from walk(inner)
    return set(walk(jax.make_jaxpr(fn)(*args).jaxpr))


def test_1x1_filter_gradient_reads_the_activations_in_place():
    # autodiff's filter gradient made XLA:CPU copy the output gradient into a (channels, pixels)
    # layout first; the written-out gradient contracts both operands as they lie (docs/BENCHMARKS.md,
    # "Adopted in the library", item 2)
    x, kernel = jnp.ones((4, 8, 8, 16)), jnp.ones((1, 1, 16, 32))
    dy = jnp.ones((4, 8, 8, 32))
    grads = jax.jit(jax.grad(lambda a, b, g: jnp.sum(conv2d(a, b, 1) * g), argnums=(0, 1)))
    hlo = grads.lower(x, kernel, dy).compile().as_text()
    entry = hlo[hlo.index("ENTRY"):]
    assert "f32[32,256]" not in entry and "f32[16,256]" not in entry  # no transposed (C, N*H*W) copy


@pytest.mark.parametrize("k, stride, size, path", [
    (1, 1, 6, "dot_general"),
    (1, 2, 7, "dot_general"),  # strided 1x1 on an odd map: slice, then matmul
    (1, 2, 8, "dot_general"),
    (3, 1, 6, "conv_general_dilated"),
    (3, 2, 7, "conv_general_dilated"),
    (3, 1, 2, "dot_general"),  # input smaller than the kernel: im2col
    (3, 2, 4, "dot_general"),  # output (2x2) smaller than the kernel: im2col
    (7, 2, 5, "dot_general"),  # the stem on a tiny image
])
def test_conv_matches_xla_convolution(k, stride, size, path):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, size, size + 1 if k > 1 else size, 5)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((k, k, 5, 4)), jnp.float32)
    assert path in primitives(lambda a, b: cpu_conv2d(a, b, stride), x, kernel)
    out, (dx, dk) = value_and_grads(lambda a, b: conv2d(a, b, stride), x, kernel)
    ref, (rdx, rdk) = value_and_grads(lambda a, b: reference_conv(a, b, stride), x, kernel)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, rdx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dk, rdk, rtol=1e-5, atol=1e-5)


def lowered(fn, platform: str, *args) -> str:
    """fn's StableHLO as lowered for `platform` (lowering for cuda needs no GPU)."""
    return jax.jit(fn).trace(*args).lower(lowering_platforms=(platform,)).as_text()


@pytest.mark.parametrize("k, stride, size", [(1, 2, 7), (3, 1, 6), (3, 2, 4), (7, 2, 5)])
def test_each_platform_gets_its_own_form_of_the_convolution(k, stride, size):
    """CPU: the shape rules (matmul for 1x1 and tiny maps). CUDA: XLA's convolution for every shape;
    on an H100 XLA:GPU's Triton GEMM fusion aborted the compiler on the im2col form (jaxlib 0.11.2)."""
    x, kernel = jnp.ones((2, size, size, 5)), jnp.ones((k, k, 5, 4))
    fn = lambda a, b: conv2d(a, b, stride)  # noqa: E731
    cpu, cuda = lowered(fn, "cpu", x, kernel), lowered(fn, "cuda", x, kernel)
    assert "stablehlo.convolution" in cuda and "dot_general" not in cuda
    assert ("dot_general" in cpu) == (k == 1 or size < k or (size + 2 * ((k - 1) // 2) - k) // stride + 1 < k)
    assert ("stablehlo.convolution" in cpu) != ("dot_general" in cpu)


def test_conv_parameter_is_nn_conv_kernel():
    """Same name, shape and initial values as nn.Conv's: weights and checkpoints map unchanged."""
    x = jnp.zeros((1, 8, 8, 3))
    ours = Conv2d(16, 3, 2).init(jax.random.PRNGKey(0), x)
    from jaxres.models.conv import CONV_INIT

    flax_conv = nn.Conv(16, (3, 3), (2, 2), padding=((1, 1), (1, 1)), use_bias=False, kernel_init=CONV_INIT)
    theirs = flax_conv.init(jax.random.PRNGKey(0), x)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    np.testing.assert_array_equal(ours["params"]["kernel"], theirs["params"]["kernel"])


def test_the_model_computes_with_the_conv_and_pool_it_is_given():
    """An injected conv and pool build every layer, with the same parameter tree; XLA's plain
    convolution and reduce_window give the library's outputs to float32 rounding."""
    from jaxres import models

    convs, pools = [], []

    def recording_conv(x, kernel, stride):
        convs.append((kernel.shape, stride))
        return reference_conv(x, kernel, stride)

    def recording_pool(x, window, stride, pad):
        pools.append((window, stride, pad))
        return reference_pool(x)

    model = models.create("resnet18", 10)
    plain = model.clone(conv=partial(Conv2d, compute=recording_conv), pool=recording_pool)
    variables = models.init(model, 0, 32)
    jax.tree.map(np.testing.assert_array_equal, models.init(plain, 0, 32), variables)  # names, shapes, values
    convs.clear()
    pools.clear()
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 32, 32, 3)), jnp.float32)
    np.testing.assert_allclose(plain.apply(variables, x), model.apply(variables, x), rtol=1e-5, atol=1e-5)
    assert len(convs) == 20 and convs[0] == ((7, 7, 3, 64), 2) and pools == [(3, 2, 1)]  # stem, 16 + 3 shortcuts
    bottleneck = models.create("resnet50", 10)
    shapes = lambda m: jax.tree.map(lambda a: a.shape, models.variable_shapes(m))
    assert shapes(bottleneck.clone(conv=partial(Conv2d, compute=reference_conv))) == shapes(bottleneck)


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (2, 7, 9, 3), (1, 5, 6, 2), (1, 2, 2, 1)])
def test_max_pool_matches_reduce_window(shape):
    x = jnp.asarray(np.random.default_rng(0).standard_normal(shape), jnp.float32)
    out, (dx,) = value_and_grads(max_pool, x)
    ref, (rdx,) = value_and_grads(reference_pool, x)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_allclose(dx, rdx, rtol=1e-6, atol=1e-6)
    assert "reduce_window_max" not in primitives(max_pool, x)


def tied_input(shape=(2, 9, 8, 3)):
    """Few distinct values (ReLU outputs: many zeros), so most windows hold several equal maxima."""
    values = np.random.default_rng(2).integers(-2, 3, shape).clip(0, None)
    return jnp.asarray(values, jnp.float32)


def test_max_pool_ties_route_the_gradient_to_the_first_maximum():
    """On ties the whole gradient goes to the first maximum in row-major window order, as XLA's
    select-and-scatter does; integer cotangents make every sum exact, so the match is bitwise."""
    x = tied_input()
    g = jnp.asarray(np.random.default_rng(3).integers(1, 9, reference_pool(x).shape), jnp.float32)
    dx = jax.vjp(max_pool, x)[1](g)[0]
    rdx = jax.vjp(reference_pool, x)[1](g)[0]
    np.testing.assert_array_equal(dx, rdx)
    assert float(dx.sum()) == float(g.sum())  # nothing split, nothing lost


def test_max_pool_ties_match_pytorch():
    torch = pytest.importorskip("torch")
    x = tied_input()
    g = np.random.default_rng(3).integers(1, 9, reference_pool(x).shape).astype(np.float32)
    xt = torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    yt = torch.nn.functional.max_pool2d(xt, 3, 2, 1)
    yt.backward(torch.from_numpy(g).permute(0, 3, 1, 2))
    y, vjp = jax.vjp(max_pool, x)
    np.testing.assert_array_equal(y, yt.detach().permute(0, 2, 3, 1).numpy())
    np.testing.assert_array_equal(vjp(jnp.asarray(g))[0], xt.grad.permute(0, 2, 3, 1).numpy())


def test_max_pool_propagates_nan_like_reduce_window():
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 1)).astype(np.float32)
    x[0, 3, 2, 0] = np.nan
    np.testing.assert_array_equal(max_pool(jnp.asarray(x)), reference_pool(jnp.asarray(x)))
