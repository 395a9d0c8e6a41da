"""torchvision's max-pool (-inf padding) whose backward routes each gradient to the stored winning tap
(XLA:CPU's select-and-scatter is slow); the first maximum in row-major order wins, NaN wins over all."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxres.models.conv import output_size, window_taps


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
