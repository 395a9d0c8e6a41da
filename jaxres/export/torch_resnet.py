"""A PyTorch ResNet with torchvision's state-dict keys, built with torch alone from a jaxres model's description
(torchvision's own `resnet*` needs compiled ops matching the installed torch, and the 1-channel stem and MLP head
need changes anyway): the module `artifacts.torchvision_recipe` describes, traced by the ONNX export."""

from __future__ import annotations

import torch
from torch import nn

from jaxres import weights

STAGE_WIDTHS = (64, 128, 256, 512)


class Block(nn.Module):
    """torchvision's BasicBlock (two 3×3) or Bottleneck v1.5 (1×1, 3×3 with the stride, 1×1)."""

    def __init__(self, bottleneck: bool, in_width: int, width: int, stride: int):
        super().__init__()
        self.out_width = out_width = width * (4 if bottleneck else 1)
        if bottleneck:
            self.conv1, self.bn1 = nn.Conv2d(in_width, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, out_width, 1, bias=False), nn.BatchNorm2d(out_width)
        else:
            self.conv1, self.bn1 = nn.Conv2d(in_width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2, self.bn2 = nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(nn.Conv2d(in_width, out_width, 1, stride, bias=False),
                                         nn.BatchNorm2d(out_width))
                           if stride != 1 or in_width != out_width else None)
        self.bottleneck = bottleneck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.bottleneck:
            out = self.bn3(self.conv3(self.relu(out)))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """conv1/bn1/maxpool, layer1-4, global average pool, `fc` (Linear, or Linear-ReLU-Dropout-Linear), as the
    jaxres `model` describes them."""

    def __init__(self, model):
        super().__init__()
        bottleneck = model.block == "bottleneck"
        self.conv1, self.bn1 = nn.Conv2d(model.in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.relu, self.maxpool = nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        in_width = 64
        for index, (width, blocks) in enumerate(zip(STAGE_WIDTHS, model.stage_sizes)):
            layers = []
            for b in range(blocks):
                layers.append(Block(bottleneck, in_width, width, 2 if (b == 0 and index > 0) else 1))
                in_width = layers[-1].out_width
            setattr(self, f"layer{index + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = (nn.Sequential(nn.Linear(in_width, model.hidden), nn.ReLU(inplace=True), nn.Dropout(model.dropout),
                                 nn.Linear(model.hidden, model.num_outputs))
                   if model.head == "mlp" else nn.Linear(in_width, model.num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def from_jaxres(model, variables) -> ResNet:
    """The torch twin of a jaxres `ResNet` with its variables loaded strictly, in eval mode."""
    net = ResNet(model)
    state = {k: torch.from_numpy(v.copy()) for k, v in weights.to_torchvision(variables, model).items()}
    net.load_state_dict(state, strict=True)
    return net.eval()
