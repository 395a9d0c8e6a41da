"""The benchmarks' convolution variants (benchmarks/variants.py) compute the library's convolution:
same parameter, same values and gradients to float32 rounding, so a timing compares like with like."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import variants
from jaxres.models.conv import Conv2d
from test_conv_dispatch import reference_conv, value_and_grads


@pytest.mark.parametrize("name", variants.VARIANTS)
@pytest.mark.parametrize("k, stride, size", [(1, 2, 7), (3, 1, 6), (3, 2, 3), (7, 2, 9)])
def test_each_variant_is_the_same_convolution(name, k, stride, size):
    conv = variants.conv_with([name])(16, k, stride, name="conv")
    x = jnp.asarray(np.random.default_rng(0).standard_normal((8, size, size, 4)), jnp.float32)
    variables = conv.init(jax.random.key(0), x)
    assert jax.tree.structure(variables) == jax.tree.structure(Conv2d(16, k, stride).init(jax.random.key(0), x))
    kernel = variables["params"]["kernel"]
    out, grads = value_and_grads(lambda a, w: conv.apply({"params": {"kernel": w}}, a), x, kernel)
    ref, ref_grads = value_and_grads(lambda a, w: reference_conv(a, w, stride), x, kernel)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)
    for got, want in zip(grads, ref_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_no_variant_is_the_library_and_unknown_names_are_refused():
    assert variants.conv_with([]) is None
    with pytest.raises(ValueError, match="unknown variants \\['conv1x1_dot'\\]"):
        variants.conv_with(["conv1x1_dot"])  # adopted: the library computes so
