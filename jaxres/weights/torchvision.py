"""torchvision state dicts <-> Flax variables, every mismatched key named at once; conv1 for another
channel count and a differing head (freshly initialised) are adapted on purpose and reported.

The naming table: Flax's "layer2_0"/"downsample_conv"/"kernel" is torchvision's "layer2.0.downsample.0.weight";
conv kernels are HWIO here and OIHW there, dense kernels (in, out) here and (out, in) there."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from typing import Mapping

import jax
import numpy as np
from flax import traverse_util

from jaxres.errors import WeightsError
from jaxres.models import ResNet, init, variable_shapes
from jaxres.models.factory import ARCHS
from jaxres.weights.state_dict_io import read_state_dict, write_state_dict

log = logging.getLogger("jaxres.weights")
_MAX_LISTED = 8
# fc_hidden and fc_out: the ImageNet-Sketch project's head, nn.Sequential(Linear, ReLU, Dropout, Linear)
_MODULE_NAMES = {"downsample_conv": "downsample.0", "downsample_bn": "downsample.1",
                 "fc_hidden": "fc.0", "fc_out": "fc.3"}
_LEAF_NAMES = {("params", "kernel"): "weight", ("params", "scale"): "weight", ("params", "bias"): "bias",
               ("batch_stats", "mean"): "running_mean", ("batch_stats", "var"): "running_var"}
_LAYER_BLOCK = re.compile(r"^(layer\d+)_(\d+)$")
HEAD_MODULES = ("fc", "fc_hidden", "fc_out")


@dataclasses.dataclass
class LoadReport:
    source: str
    replaced_head: list[str] = dataclasses.field(default_factory=list)
    adapted_conv1: str | None = None

    def lines(self) -> list[str]:
        out = []
        if self.adapted_conv1:
            out.append(f"{self.source}: conv1 adapted: {self.adapted_conv1}")
        if self.replaced_head:
            out.append(f"{self.source}: head replaced (freshly initialised): {', '.join(self.replaced_head)}")
        return out


def load_torchvision(src, model: ResNet, *, rng: int | jax.Array = 0, return_report: bool = False):
    """A torchvision ResNet state dict (path or mapping) -> {"params", "batch_stats"} for `model`."""
    source = str(src) if isinstance(src, (str, os.PathLike)) else "state dict"
    state = read_state_dict(src) if isinstance(src, (str, os.PathLike)) else dict(src)
    state = {k: np.asarray(v) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    report = LoadReport(source)
    expected = _expected_torch_shapes(model)
    _adapt_conv1(state, model.in_channels, report)
    head = {k: v[2] for k, v in expected.items() if v[1][0] in HEAD_MODULES}
    head_fresh = head != {k: tuple(v.shape) for k, v in state.items() if k.startswith("fc.")}
    if head_fresh:
        report.replaced_head = sorted(k for k in state if k.startswith("fc."))
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    _check_keys(state, expected, skip_head=head_fresh, source=source)
    variables = _to_flax(state, expected, model, rng if head_fresh else None)
    for line in report.lines():
        log.warning(line)
    return (variables, report) if return_report else variables


def _expected_torch_shapes(model: ResNet) -> dict[str, tuple[str, tuple, tuple]]:
    """torch key -> (collection, flax path, torch shape) for every variable of `model`."""
    out = {}
    for collection, tree in variable_shapes(model).items():
        for path, leaf in traverse_util.flatten_dict(tree).items():
            axes = _to_torch_axes(path[-1], leaf.ndim)
            shape = tuple(leaf.shape) if axes is None else tuple(leaf.shape[i] for i in axes)
            out[torch_key(collection, path)] = (collection, path, shape)
    return out


def _adapt_conv1(state: dict, in_channels: int, report: LoadReport) -> None:
    weight = state.get("conv1.weight")
    if weight is None or weight.ndim != 4 or weight.shape[1] == in_channels or weight.shape[1] != 3:
        return
    if in_channels == 1:
        state["conv1.weight"] = weight.sum(axis=1, keepdims=True)
        report.adapted_conv1 = "RGB kernel summed to 1 channel"
    else:
        reps = math.ceil(in_channels / 3)
        state["conv1.weight"] = np.tile(weight, (1, reps, 1, 1))[:, :in_channels] * (3.0 / in_channels)
        report.adapted_conv1 = f"RGB kernel repeated to {in_channels} channels and scaled by 3/{in_channels}"


def _check_keys(state: dict, expected: dict, *, skip_head: bool, source: str) -> None:
    wanted = {k: v for k, v in expected.items() if not (skip_head and v[1][0] in HEAD_MODULES)}
    missing = sorted(set(wanted) - set(state))
    unknown = sorted(set(state) - set(expected))
    mismatched = [f"{k} {tuple(state[k].shape)} vs model {wanted[k][2]}" for k in sorted(set(wanted) & set(state))
                  if tuple(state[k].shape) != wanted[k][2]]
    problems = [p for p in (_listing("missing", missing), _listing("unknown", unknown),
                            _listing("shape mismatch", mismatched)) if p]
    if problems:
        theirs, ours = architecture_of(state), architecture_of(expected)
        if theirs and ours and theirs != ours:  # the usual mistake, said first: the key lists are long
            raise WeightsError(f"holds a {theirs}, the model is a {ours}: " + "; ".join(problems), where=source)
        raise WeightsError("does not fit the model: " + "; ".join(problems)
                           + " (is it a checkpoint of another architecture?)", where=source)


def architecture_of(keys) -> str | None:
    """The torchvision ResNet name whose state-dict keys these are, from the blocks per stage."""
    blocks = [0, 0, 0, 0]
    for key in keys:
        parts = key.split(".")
        if len(parts) > 2 and parts[0] in ("layer1", "layer2", "layer3", "layer4") and parts[1].isdigit():
            stage = int(parts[0][-1]) - 1
            blocks[stage] = max(blocks[stage], int(parts[1]) + 1)
    block = "bottleneck" if any(".conv3." in key for key in keys) else "basic"
    return next((name for name, spec in ARCHS.items() if spec == (block, tuple(blocks))), None)


def _listing(kind: str, keys: list[str]) -> str:
    if not keys:
        return ""
    shown = ", ".join(keys[:_MAX_LISTED])
    more = f" and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else ""
    return f"{len(keys)} {kind} key(s): {shown}{more}"


def _to_flax(state: dict, expected: dict, model: ResNet, head_rng) -> dict:
    fresh = None if head_rng is None else {
        c: traverse_util.flatten_dict(t) for c, t in init(model, head_rng, image_size=32).items()}
    flat = {"params": {}, "batch_stats": {}}
    for key, (collection, path, _) in expected.items():
        if key in state:
            axes = _to_torch_axes(path[-1], state[key].ndim)
            value = (state[key] if axes is None else np.transpose(state[key], np.argsort(axes))).astype(np.float32)
        else:
            value = np.asarray(fresh[collection][path])
        flat[collection][path] = value
    return {c: traverse_util.unflatten_dict(t) for c, t in flat.items()}


def to_torchvision(variables: Mapping, model: ResNet | None = None) -> dict[str, np.ndarray]:
    """Flax variables -> a torchvision-keyed state dict (with num_batches_tracked, for strict loads)."""
    state = {}
    for collection in ("params", "batch_stats"):
        flat = traverse_util.flatten_dict(jax.device_get(dict(variables[collection])))
        for path, value in flat.items():
            axes, key = _to_torch_axes(path[-1], np.ndim(value)), torch_key(collection, path)
            state[key] = np.asarray(value if axes is None else np.transpose(value, axes), dtype=np.float32)
            if path[-1] == "scale":  # a BatchNorm
                state[key.removesuffix("weight") + "num_batches_tracked"] = np.zeros((), np.int64)
    return state


def save_torchvision(variables: Mapping, model: ResNet | None, path) -> os.PathLike:
    """Write a state dict that torchvision's ResNet loads with strict=True (.pth, .safetensors, .npz)."""
    return write_state_dict(to_torchvision(variables, model), path)


def torch_key(collection: str, path: tuple[str, ...]) -> str:
    """("params", ("layer1_0", "bn1", "scale")) -> "layer1.0.bn1.weight"."""
    *modules, leaf = path
    parts = []
    for name in modules:
        match = _LAYER_BLOCK.match(name)
        parts.append(f"{match[1]}.{match[2]}" if match else _MODULE_NAMES.get(name, name))
    parts.append(_LEAF_NAMES[(collection, leaf)])
    return ".".join(parts)


def _to_torch_axes(leaf: str, ndim: int) -> tuple[int, ...] | None:
    """The transpose taking a Flax kernel to torch's layout: HWIO -> OIHW, (in, out) -> (out, in)."""
    return {4: (3, 2, 0, 1), 2: (1, 0)}.get(ndim) if leaf == "kernel" else None
