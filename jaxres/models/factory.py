"""`models.create` and `models.init`: build a ResNet by name and make its variables."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxres.errors import ConfigError
from jaxres.models.heads import HEADS
from jaxres.models.resnet import ResNet

ARCHS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}


def create(arch: str, num_outputs: int = 1000, in_channels: int = 3, head: str = "linear", dtype: Any = jnp.float32,
           zero_init_residual: bool = False, drop_path: float = 0.0, **head_options) -> ResNet:
    """A ResNet by torchvision name; head "linear" (fc), "mlp" (fc_hidden → ReLU → Dropout → fc_out) or
    "keypoints" (fc → 2·num_keypoints, shaped (B, K, 2))."""
    if arch not in ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}; expected one of {sorted(ARCHS)}")
    if head not in HEADS:
        raise ConfigError(f"unknown head {head!r}; expected one of {list(HEADS)}")
    allowed = {"linear": set(), "mlp": {"hidden", "dropout"}, "keypoints": {"num_keypoints"}}[head]
    unknown = set(head_options) - allowed
    if unknown:
        raise ConfigError(f"head {head!r} takes options {sorted(allowed)}, not {sorted(unknown)}")
    if head == "keypoints":
        head_options["num_keypoints"] = head_options.get("num_keypoints") or num_outputs // 2
        num_outputs = 2 * head_options["num_keypoints"]
    block, stages = ARCHS[arch]
    return ResNet(block=block, stage_sizes=stages, num_outputs=num_outputs, in_channels=in_channels, head=head,
                  dtype=jnp.dtype(dtype), zero_init_residual=bool(zero_init_residual), drop_path=float(drop_path),
                  **head_options)


def init(model: ResNet, rng: jax.Array | int = 0, image_size: int = 224) -> dict:
    """{"params", "batch_stats"} for `model`, initialised like torchvision's constructor."""
    if isinstance(rng, int):
        rng = jax.random.key(rng)
    x = jnp.zeros((1, image_size, image_size, model.in_channels), jnp.float32)
    return dict(jax.jit(lambda r: model.init(r, x, train=False))(rng))


def variable_shapes(model: ResNet, image_size: int = 64) -> dict:
    """The variables' shapes and dtypes (`init`'s), without computing anything."""
    return jax.eval_shape(lambda: init(model, 0, image_size))
