"""torchvision state dicts <-> Flax variables, every mismatched key named at once; conv1 for another
channel count and a differing head (freshly initialised) are adapted on purpose and reported."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from typing import Mapping

import jax
import numpy as np
from flax import traverse_util

from jaxres.errors import WeightsError
from jaxres.models import ResNet, init, variable_shapes
from jaxres.models.factory import ARCHS
from jaxres.weights import torchvision_names as names
from jaxres.weights.state_dict_io import read_state_dict, write_state_dict

log = logging.getLogger("jaxres.weights")
_MAX_LISTED = 8


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
    _adapt_conv1(state, expected, model.in_channels, report)
    head_fresh = _head_differs(state, expected)
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
            key = names.torch_key(collection, path)
            out[key] = (collection, path, names.torch_shape(path[-1], leaf.shape))
    return out


def _adapt_conv1(state: dict, expected: dict, in_channels: int, report: LoadReport) -> None:
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


def _head_differs(state: dict, expected: dict) -> bool:
    want = {k: v[2] for k, v in expected.items() if names.is_head(v[1])}
    have = {k: tuple(v.shape) for k, v in state.items() if k.startswith("fc.")}
    return want != have


def _check_keys(state: dict, expected: dict, *, skip_head: bool, source: str) -> None:
    wanted = {k: v for k, v in expected.items() if not (skip_head and names.is_head(v[1]))}
    missing = sorted(set(wanted) - set(state))
    unknown = sorted(set(state) - set(expected))
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs model {wanted[k][2]}"
        for k in sorted(set(wanted) & set(state))
        if tuple(state[k].shape) != wanted[k][2]
    ]
    problems = [
        _listing("missing", missing),
        _listing("unknown", unknown),
        _listing("shape mismatch", mismatched),
    ]
    problems = [p for p in problems if p]
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
    fresh = None
    if head_rng is not None:
        fresh = {c: traverse_util.flatten_dict(t) for c, t in init(model, head_rng, image_size=32).items()}
    flat = {"params": {}, "batch_stats": {}}
    for key, (collection, path, _) in expected.items():
        if key in state:
            value = names.from_torch_layout(path[-1], state[key]).astype(np.float32)
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
            value = np.asarray(value, dtype=np.float32)
            state[names.torch_key(collection, path)] = names.to_torch_layout(path[-1], value)
    for prefix in names.bn_prefixes(traverse_util.flatten_dict(dict(variables["params"]))):
        state[f"{prefix}.num_batches_tracked"] = np.zeros((), np.int64)
    return state


def save_torchvision(variables: Mapping, model: ResNet | None, path) -> os.PathLike:
    """Write a state dict that torchvision's ResNet loads with strict=True (.pth, .safetensors, .npz)."""
    return write_state_dict(to_torchvision(variables, model), path)
