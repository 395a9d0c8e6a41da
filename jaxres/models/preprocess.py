"""Input normalisation as torchvision's ImageNet transforms do it, done on the device."""

from __future__ import annotations

import jax.numpy as jnp

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# A 1-channel model whose conv1 was summed over RGB sees gray normalised by the mean statistics.
GRAY_MEAN = (sum(IMAGENET_MEAN) / 3,)
GRAY_STD = (sum(IMAGENET_STD) / 3,)


def normalize(images, in_channels: int = 3, dtype=jnp.float32):
    """uint8 (or 0–255 float) NHWC images -> normalised float, as ToTensor + Normalize."""
    mean, std = (GRAY_MEAN, GRAY_STD) if in_channels == 1 else (IMAGENET_MEAN, IMAGENET_STD)
    if images.shape[-1] != len(mean):
        raise ValueError(f"images have {images.shape[-1]} channels, the model expects {len(mean)}")
    x = images.astype(jnp.float32) / 255.0
    x = (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)
    return x.astype(dtype)
