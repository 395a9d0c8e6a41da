"""`export --format onnx`: the model as an ONNX graph, uint8 NHWC images in, as the StableHLO export.

The Flax variables go to a torchvision-keyed state dict (`weights.to_torchvision`), into a torch
ResNet (`jaxres.torch_resnet`), behind the same normalisation `models.normalize` does; torch.onnx's
TorchScript exporter (`dynamo=False`: the dynamo exporter needs onnxscript, and it gains nothing for
a static convolutional net) traces it with a symbolic batch. Task metadata (task, classes, objective)
goes into the model's metadata_props. Needs the `onnx` extra (torch, onnx).
"""

from __future__ import annotations

import io
import json
import pathlib
import warnings
from typing import Mapping

from jaxres import files
from jaxres.errors import UserError

OPSET = 17
INPUT, OUTPUT = "images", "outputs"


def export_onnx(model, variables: Mapping, path, *, image_size: int | tuple[int, int], channels: int | None = None,
                metadata: Mapping | None = None) -> pathlib.Path:
    """Write `path`: `images` uint8 (batch, H, W, C) -> `outputs` float32 ((batch, N) or (batch, K, 2))."""
    from jaxres.models.preprocess import GRAY_MEAN, GRAY_STD, IMAGENET_MEAN, IMAGENET_STD

    torch, onnx = _imports()
    from jaxres import torch_resnet

    path = pathlib.Path(path)
    height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    channels = model.in_channels if channels is None else channels
    if channels != model.in_channels:
        raise UserError(f"channels={channels} but the model takes {model.in_channels}-channel images", where=str(path))
    mean, std = (GRAY_MEAN, GRAY_STD) if channels == 1 else (IMAGENET_MEAN, IMAGENET_STD)
    serving = _serving(torch, torch_resnet.from_jaxres(model, variables), mean, std, model.num_keypoints)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(serving, (torch.zeros((1, height, width, channels), dtype=torch.uint8),), buffer,
                          dynamo=False, input_names=[INPUT], output_names=[OUTPUT], opset_version=OPSET,
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), value if isinstance(value, str) else json.dumps(value)
    return files.write_chunks(path, [proto.SerializeToString()])


def _imports():
    try:
        import onnx
        import torch
    except ImportError as err:
        raise UserError(f"export --format onnx needs torch and onnx: pip install 'jaxres[onnx]' ({err})") from err
    return torch, onnx


def _serving(torch, net, mean, std, num_keypoints):
    """`net` behind the input handling of `models.normalize`: uint8 NHWC -> /255, mean/std, NCHW;
    a keypoint head's outputs as (B, K, 2), as the JAX model returns them."""

    class Serving(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

        def forward(self, images):
            out = self.net((images.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std)
            return out if num_keypoints is None else out.reshape(out.shape[0], num_keypoints, 2)

    return Serving().eval()
