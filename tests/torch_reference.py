"""torchvision's own ResNet, taken from the installed wheel's source at test time.

torchvision's package import fails on this CPU-only machine (its C++ ops are missing), but
`models/resnet.py` is plain PyTorch. We read that file from site-packages and execute only its
model definitions, so the parity reference is torchvision's code, not a copy of it.
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import typing

import pytest

torch = pytest.importorskip("torch")

_WANTED = {"conv3x3", "conv1x1", "BasicBlock", "Bottleneck", "ResNet"}


def _resnet_source() -> pathlib.Path:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchvision is not installed (pip install 'jaxres[test]')")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "models" / "resnet.py"


def load_torchvision_resnet_namespace() -> dict:
    tree = ast.parse(_resnet_source().read_text())
    body = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in _WANTED]
    module = ast.Module(body=body, type_ignores=[])
    namespace = {name: getattr(typing, name) for name in ("Any", "Callable", "List", "Optional", "Type", "Union")}
    namespace.update(torch=torch, nn=torch.nn, Tensor=torch.Tensor, _log_api_usage_once=lambda *a, **k: None)
    exec(compile(module, str(_resnet_source()), "exec"), namespace)
    return namespace


def torchvision_resnet(arch: str, num_classes: int = 1000):
    ns = load_torchvision_resnet_namespace()
    block, layers = {
        "resnet18": ("BasicBlock", [2, 2, 2, 2]),
        "resnet34": ("BasicBlock", [3, 4, 6, 3]),
        "resnet50": ("Bottleneck", [3, 4, 6, 3]),
        "resnet101": ("Bottleneck", [3, 4, 23, 3]),
    }[arch]
    return ns["ResNet"](ns[block], layers, num_classes=num_classes)


def randomise_batchnorm(model, generator: "torch.Generator") -> None:
    """Random affine and running statistics, so a parity test cannot pass on identity BatchNorms."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
