"""The parity reference: torchvision's own ResNet (`benchmarks.torch_models`), skipped without torch
or torchvision, and BatchNorm statistics that make a parity test meaningful."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from benchmarks import torch_models  # noqa: E402


def torchvision_resnet(arch: str, num_classes: int = 1000, **options):
    if torch_models.resnet_source() is None:
        pytest.skip("torchvision is not installed (pip install 'jaxres[test]')")
    return torch_models.torchvision_resnet(arch, num_classes, **options)


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
