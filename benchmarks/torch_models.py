"""torchvision's own ResNet, taken from the installed wheel's source: the PyTorch side of the benchmarks.

torchvision's package import fails where its C++ ops do not match the installed torch (the CPU dev
machines), but `models/resnet.py` is plain PyTorch. That file is read from site-packages and only
its model definitions are executed, so the reference is torchvision's code, not a copy of it. The
parity tests build their reference from it too (tests/torch_reference.py).
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import typing

_WANTED = {"conv3x3", "conv1x1", "BasicBlock", "Bottleneck", "ResNet"}
_ARCHS = {
    "resnet18": ("BasicBlock", [2, 2, 2, 2]),
    "resnet34": ("BasicBlock", [3, 4, 6, 3]),
    "resnet50": ("Bottleneck", [3, 4, 6, 3]),
    "resnet101": ("Bottleneck", [3, 4, 23, 3]),
}


def resnet_source() -> pathlib.Path | None:
    """torchvision's `models/resnet.py`, or None when torchvision is not installed."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "models" / "resnet.py"


def _resnet_namespace() -> dict:
    import torch

    source = resnet_source()
    if source is None:
        raise ModuleNotFoundError("torchvision is not installed (pip install 'jaxres[test]')", name="torchvision")
    tree = ast.parse(source.read_text())
    body = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in _WANTED]
    module = ast.Module(body=body, type_ignores=[])
    namespace = {name: getattr(typing, name) for name in ("Any", "Callable", "List", "Optional", "Type", "Union")}
    namespace.update(torch=torch, nn=torch.nn, Tensor=torch.Tensor, _log_api_usage_once=lambda *a, **k: None)
    exec(compile(module, str(source), "exec"), namespace)
    return namespace


def torchvision_resnet(arch: str, num_classes: int = 1000, **options):
    """torchvision's `resnet*` (random weights) with `num_classes` outputs; `options` are its
    constructor's other keywords (`zero_init_residual`)."""
    ns = _resnet_namespace()
    block, layers = _ARCHS[arch]
    return ns["ResNet"](ns[block], layers, num_classes=num_classes, **options)
