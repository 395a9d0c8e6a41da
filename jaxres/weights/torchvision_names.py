"""The naming table between Flax variables ("layer2_0", "downsample_conv", "kernel") and torchvision's
keys ("layer2.0.downsample.0.weight"); conv kernels HWIO vs OIHW, dense (in, out) vs (out, in)."""

from __future__ import annotations

import re

import numpy as np

_MODULE_NAMES = {
    "downsample_conv": "downsample.0",
    "downsample_bn": "downsample.1",
    # The ImageNet-Sketch project's head: nn.Sequential(Linear, ReLU, Dropout, Linear).
    "fc_hidden": "fc.0",
    "fc_out": "fc.3",
}
_LEAF_NAMES = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}
_LAYER_BLOCK = re.compile(r"^(layer\d+)_(\d+)$")
HEAD_MODULES = ("fc", "fc_hidden", "fc_out")


def torch_key(collection: str, path: tuple[str, ...]) -> str:
    """("params", ("layer1_0", "bn1", "scale")) -> "layer1.0.bn1.weight"."""
    *modules, leaf = path
    parts = []
    for name in modules:
        match = _LAYER_BLOCK.match(name)
        parts.append(f"{match[1]}.{match[2]}" if match else _MODULE_NAMES.get(name, name))
    parts.append(_LEAF_NAMES[(collection, leaf)])
    return ".".join(parts)


def bn_prefixes(flat_params: dict) -> list[str]:
    """torch prefixes of every BatchNorm (the modules owning a `scale`), for num_batches_tracked."""
    return sorted({torch_key("params", path)[: -len(".weight")] for path in flat_params if path[-1] == "scale"})


def _to_torch_axes(leaf: str, ndim: int) -> tuple[int, ...] | None:
    """The transpose taking a Flax kernel to torch's layout: HWIO -> OIHW, (in, out) -> (out, in)."""
    return {4: (3, 2, 0, 1), 2: (1, 0)}.get(ndim) if leaf == "kernel" else None


def to_torch_layout(leaf: str, value: np.ndarray) -> np.ndarray:
    axes = _to_torch_axes(leaf, value.ndim)
    return value if axes is None else np.transpose(value, axes)


def from_torch_layout(leaf: str, value: np.ndarray) -> np.ndarray:
    axes = _to_torch_axes(leaf, value.ndim)
    return value if axes is None else np.transpose(value, np.argsort(axes))


def torch_shape(leaf: str, flax_shape: tuple[int, ...]) -> tuple[int, ...]:
    axes = _to_torch_axes(leaf, len(flax_shape))
    return tuple(flax_shape) if axes is None else tuple(flax_shape[i] for i in axes)


def is_head(path: tuple[str, ...]) -> bool:
    return path[0] in HEAD_MODULES
