"""The step's random draws, resampling and colour as jnp functions on ONE example; keys depend on
(seed, step, example index) only. `warp` samples like Pillow's BILINEAR transform (outside: 0)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxres.data import photometric
from jaxres.data.affine import compose, hflip, rotate, scale, translate


def example_keys(step_key: jax.Array, index: jax.Array) -> jax.Array:
    """One key per example: the step's key folded with each example's index in its data set."""
    return jax.vmap(lambda i: jax.random.fold_in(step_key, i))(index.astype(jnp.uint32))


def random_affine(key, out_size: int, rotate_deg: float, scale_range, translate_frac: float) -> jax.Array:
    """Rotate ±rotate_deg and scale about the frame's centre, then shift by ±translate_frac of the frame;
    the scale is log-uniform in scale_range, so zooming in and out by a factor are equally likely."""
    k_angle, k_scale, k_shift = jax.random.split(key, 3)
    lo, hi = scale_range
    angle = jax.random.uniform(k_angle, (), minval=-1.0, maxval=1.0) * rotate_deg
    s = jnp.exp(jax.random.uniform(k_scale, (), minval=math.log(lo), maxval=math.log(hi)))
    shift = jax.random.uniform(k_shift, (2,), minval=-1.0, maxval=1.0) * translate_frac * out_size
    centre = jnp.float32(out_size / 2.0)
    return compose(translate(-centre, -centre, jnp), rotate(angle, jnp), scale(s, s, jnp),
                   translate(centre + shift[0], centre + shift[1], jnp))


def random_flip(key, flip_prob: float) -> jax.Array:
    """A boolean scalar, True with probability flip_prob."""
    return jax.random.uniform(key, ()) < flip_prob


def random_resized_crop(key, size: jax.Array, area_range, ratio_range, tries: int = 10) -> jax.Array:
    """torchvision's RandomResizedCrop window (left, top, width, height) in original pixels of a
    (w, h) image: `tries` candidates drawn at once, the first that fits, else the central fallback."""
    w, h = size[0], size[1]
    k_area, k_ratio, k_x, k_y = jax.random.split(key, 4)
    area = w * h * jax.random.uniform(k_area, (tries,), minval=area_range[0], maxval=area_range[1])
    ratio = jnp.exp(jax.random.uniform(k_ratio, (tries,), minval=math.log(ratio_range[0]),
                                       maxval=math.log(ratio_range[1])))
    cw, ch = jnp.round(jnp.sqrt(area * ratio)), jnp.round(jnp.sqrt(area / ratio))
    fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    first = jnp.argmax(fits)
    left = jnp.floor(jax.random.uniform(k_x, (tries,)) * (w - cw + 1))[first]
    top = jnp.floor(jax.random.uniform(k_y, (tries,)) * (h - ch + 1))[first]
    found = jnp.stack([left, top, cw[first], ch[first]])
    aspect = w / h  # the central fallback: the whole image, cut to the nearest allowed aspect ratio
    cw = jnp.where(aspect < ratio_range[0], w, jnp.where(aspect > ratio_range[1], jnp.round(h * ratio_range[1]), w))
    ch = jnp.where(aspect < ratio_range[0], jnp.round(w / ratio_range[0]), h)
    return jnp.where(fits.any(), found, jnp.stack([jnp.floor((w - cw) / 2), jnp.floor((h - ch) / 2), cw, ch]))


def crop_matrix(window: jax.Array, out_size: int) -> jax.Array:
    """Original pixels -> output: the window (left, top, width, height) stretched onto the output."""
    left, top, cw, ch = window
    return compose(translate(-left, -top, jnp), scale(out_size / cw, out_size / ch, jnp))


def warp(image: jax.Array, out_to_source: jax.Array, out_size: int) -> jax.Array:
    """Bilinear resample of a (H, W, C) image at the output's pixel centres mapped by `out_to_source`:
    float32 (out_size, out_size, C) in 0..255. A sample point outside the source is 0 (black)."""
    h, w = image.shape[0], image.shape[1]
    centres = jnp.arange(out_size, dtype=jnp.float32) + 0.5
    xs, ys = jnp.meshgrid(centres, centres)
    u = out_to_source[0, 0] * xs + out_to_source[0, 1] * ys + out_to_source[0, 2]
    v = out_to_source[1, 0] * xs + out_to_source[1, 1] * ys + out_to_source[1, 2]
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    x, y = u - 0.5, v - 0.5
    x0, y0 = jnp.floor(x), jnp.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    xa, xb = jnp.clip(x0, 0, w - 1).astype(jnp.int32), jnp.clip(x0 + 1, 0, w - 1).astype(jnp.int32)
    ya, yb = jnp.clip(y0, 0, h - 1).astype(jnp.int32), jnp.clip(y0 + 1, 0, h - 1).astype(jnp.int32)
    pixels = image.astype(jnp.float32)
    top = pixels[ya, xa] * (1 - fx) + pixels[ya, xb] * fx
    bottom = pixels[yb, xa] * (1 - fx) + pixels[yb, xb] * fx
    return jnp.where(inside[..., None], top * (1 - fy) + bottom * fy, 0.0)


def random_output_geometry(key, out_size: int, rotate_deg: float, zoom, translate_frac: float,
                           flip_prob: float) -> tuple[jax.Array, jax.Array]:
    """(matrix, flipped): a `random_affine` in the output frame, then a mirror with probability
    flip_prob; the matrix maps base-output pixels to augmented-output pixels."""
    k_geometry, k_flip = jax.random.split(key)
    aug = random_affine(k_geometry, out_size, rotate_deg, zoom, translate_frac)
    flipped = random_flip(k_flip, flip_prob)
    return jnp.where(flipped, hflip(out_size, jnp) @ aug, aug), flipped


def render(image: jax.Array, out_to_source: jax.Array, out_size: int, colour_key=None, jitter=(0.0, 0.0, 0.0)):
    """The output pixels: the cached frame resampled, then, given a key, colour-jittered torchvision-style
    (`photometric.apply_jitter`, each factor uniform in [1 - amount, 1 + amount])."""
    pixels = warp(image, out_to_source, out_size)
    if colour_key is None or not any(jitter):
        return pixels
    factors = 1.0 + jax.random.uniform(colour_key, (3,), minval=-1.0, maxval=1.0) * jnp.array(jitter, jnp.float32)
    return photometric.apply_jitter(pixels, factors, jitter, xp=jnp)
