"""ResNet-18/34/50/101/152 in Flax linen, equal to torchvision's; parameter names mirror its state-dict keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxres.models.blocks import BasicBlock, BatchNorm, Bottleneck, ConvDef
from jaxres.models.conv import Conv2d, max_pool
from jaxres.models.heads import apply_head

STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
GROUPS = STAGES + ("head",)
STAGE_WIDTHS = (64, 128, 256, 512)


class ResNet(nn.Module):
    """`model.apply(variables, x, train=False)` on normalised x (B, H, W, in_channels); training needs
    `mutable=["batch_stats"]` and, for dropout or drop_path, `rngs={"dropout": key}`. `frozen` stages run
    BatchNorm on running statistics; a frozen prefix sits behind `stop_gradient`."""

    block: str  # "basic" | "bottleneck"
    stage_sizes: Sequence[int]
    num_outputs: int = 1000
    in_channels: int = 3
    head: str = "linear"
    hidden: int = 1000  # mlp head width
    dropout: float = 0.0  # mlp head dropout
    num_keypoints: int | None = None  # keypoints head: outputs reshaped to (B, K, 2)
    dtype: Any = jnp.float32
    conv: ConvDef = Conv2d
    pool: Callable[..., jax.Array] = max_pool
    zero_init_residual: bool = False  # torchvision's: each block's last BN scale starts at 0
    # stochastic depth: the last block's rate in training, the others in proportion to their depth
    drop_path: float = 0.0

    @property
    def feature_width(self) -> int:
        return STAGE_WIDTHS[-1] * (4 if self.block == "bottleneck" else 1)

    @nn.compact
    def __call__(self, x, train: bool = False, frozen: Sequence[str] = (), return_features: bool = False):
        frozen = tuple(frozen)
        features = {}
        block_cls = Bottleneck if self.block == "bottleneck" else BasicBlock
        in_width = 64

        x = self.conv(64, 7, 2, dtype=self.dtype, name="conv1")(x)
        x = BatchNorm(not train or "stem" in frozen, dtype=self.dtype, name="bn1")(x)
        x = nn.relu(x)
        x = self.pool(x, 3, 2, 1)
        x = _maybe_stop_gradient(x, "stem", frozen)
        features["stem"] = x

        block_rates = iter(drop_path_rates(self.drop_path, sum(self.stage_sizes)))
        for stage_index, (width, blocks) in enumerate(zip(STAGE_WIDTHS, self.stage_sizes)):
            stage = f"layer{stage_index + 1}"
            use_running = not train or stage in frozen
            for block_index in range(blocks):
                stride = 2 if (block_index == 0 and stage_index > 0) else 1
                downsample = block_index == 0 and (stride != 1 or in_width != width * block_cls.expansion)
                block = block_cls(width, stride, downsample, self.dtype, self.conv, self.zero_init_residual,
                                  next(block_rates), name=f"{stage}_{block_index}")
                x = block(x, use_running)
                in_width = width * block_cls.expansion
            x = _maybe_stop_gradient(x, stage, frozen)
            features[stage] = x

        pooled = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
        features["pooled"] = pooled
        out = apply_head(pooled.astype(self.dtype), head=self.head, num_outputs=self.num_outputs, hidden=self.hidden,
                         dropout=self.dropout, train=train and "head" not in frozen, dtype=self.dtype)
        out = out.astype(jnp.float32)
        if self.num_keypoints is not None:
            out = out.reshape(out.shape[0], self.num_keypoints, 2)
        return (out, features) if return_features else out


def drop_path_rates(rate: float, blocks: int) -> list[float]:
    """Each block's stochastic-depth rate: 0 for the first, `rate` for the last, linear between."""
    return [rate * i / max(blocks - 1, 1) for i in range(blocks)]


def _maybe_stop_gradient(x, stage: str, frozen: tuple[str, ...]):
    """Cut the graph after `stage` when it and every stage before it are frozen."""
    upto = STAGES[: STAGES.index(stage) + 1]
    return jax.lax.stop_gradient(x) if all(s in frozen for s in upto) else x
