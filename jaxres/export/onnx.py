"""`export --format onnx`: the model as an ONNX graph with its `.sha256`, in `artifacts`' two forms. The photo
form (`export_onnx_photo`, what `export` writes) evaluates `jaxres.objectives.serving`'s steps on torch tensors
(the framing as GridSample + AveragePool, opset 17), so onnxruntime gives `predict`'s numbers; the crop-in form
(`export_onnx`) takes framed uint8 images. The network is `torch_resnet`'s twin, traced by the TorchScript
exporter (`dynamo=False`: the dynamo one needs onnxscript); task metadata goes into metadata_props. torch and
onnx are the optional `onnx` extra, so they (and `torch_resnet`) are imported only when an export runs.
"""

from __future__ import annotations

import io
import json
import pathlib
import warnings
from typing import Mapping

from jaxres.errors import UserError
from jaxres.models.preprocess import GRAY_MEAN, GRAY_STD, IMAGENET_MEAN, IMAGENET_STD
from jaxres.objectives import serving
from jaxres.platform import files

OPSET = 17


def export_onnx(model, variables: Mapping, path, *, image_size: tuple[int, int],
                metadata: Mapping | None = None) -> pathlib.Path:
    """Write `path`: `images` uint8 (batch, H, W, C) -> `outputs` float32 ((batch, N) or (batch, K, 2))."""
    torch, onnx, torch_resnet = _imports()
    example = (torch.zeros((1, *image_size, model.in_channels), dtype=torch.uint8),)
    return _write(torch, onnx, _network(torch, torch_resnet, model, variables), example, ["images"], "outputs",
                  {"images": {0: "batch"}, "outputs": {0: "batch"}}, metadata, path)


def export_onnx_photo(model, objective, variables: Mapping, path, *, metadata: Mapping | None = None) -> pathlib.Path:
    """Write `path`: the photo (and box) -> the prediction in the photo's pixels, one photo a call."""
    torch, onnx, torch_resnet = _imports()
    graph = _photo_serving(torch, _network(torch, torch_resnet, model, variables), objective)
    inputs, names = (torch.zeros((37, 53, model.in_channels), dtype=torch.uint8),), ["photo"]
    if objective.takes_box:
        inputs, names = inputs + (torch.tensor([3.0, 4.0, 20.0, 25.0]),), names + ["box"]
    axes = {"photo": {0: "height", 1: "width"}}
    return _write(torch, onnx, graph, inputs, names, objective.output_name, axes, metadata, path)


def _write(torch, onnx, module, inputs: tuple, names: list, output: str, axes: dict, metadata, path) -> pathlib.Path:
    """`module` traced on the example `inputs`, `metadata` in its metadata_props, written with its checksum."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), inputs, buffer, dynamo=False, input_names=names, output_names=[output],
                          opset_version=OPSET, dynamic_axes=axes)
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), value if isinstance(value, str) else json.dumps(value)
    return files.write_chunks(path, [proto.SerializeToString()], checksum=True)


def _network(torch, torch_resnet, model, variables):
    """The torch twin of `model` behind `models.normalize`: images (B, H, W, C) in [0, 255], uint8 or float,
    -> its outputs, a keypoint head's as (B, K, 2), as the JAX model returns them."""
    net = torch_resnet.from_jaxres(model, variables)
    mean, std = (GRAY_MEAN, GRAY_STD) if model.in_channels == 1 else (IMAGENET_MEAN, IMAGENET_STD)
    k = model.num_keypoints

    class Network(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

        def forward(self, x):
            out = self.net((x.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std)
            return out if k is None else out.reshape(out.shape[0], k, 2)

    return Network()


def _photo_serving(torch, network, objective):
    """`network` behind `serving.photo_function`'s steps, as torch ops."""
    ops = serving.Ops(torch.maximum, torch.minimum, torch.floor, torch.round, torch.where,
                      lambda xs, axis=0: torch.stack(list(xs), dim=axis), lambda x: torch.softmax(x, dim=-1))
    size, n = objective.size, serving.SUPERSAMPLE
    flip = bool(objective.options.get("flip_test", False))
    functional = torch.nn.functional

    class PhotoServing(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.network = network
            self.register_buffer("centres", torch.arange(size * n, dtype=torch.float32) + 0.5)

        def frame(self, photo, view, h, w):
            """`serving.frame`: the mean of n x n bilinear samples per output pixel, black outside."""
            sx, sy, tx, ty = view
            u = self.centres / (n * sx) - tx / sx  # photo x of each fine column
            v = self.centres / (n * sy) - ty / sy
            grid = torch.stack([(2.0 * u / w - 1.0).view(1, -1).expand(size * n, -1),
                                (2.0 * v / h - 1.0).view(-1, 1).expand(-1, size * n)], dim=-1)[None]
            image = photo.permute(2, 0, 1)[None].float()
            fine = functional.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
            inside = (((v >= 0) & (v < h)).view(-1, 1) & ((u >= 0) & (u < w)).view(1, -1)).float()
            return functional.avg_pool2d(fine * inside, n).permute(0, 2, 3, 1)  # NHWC, as `network` takes

        def forward(self, photo, box=None):
            hw = torch._shape_as_tensor(photo)[:2].float()
            h, w = hw[0], hw[1]
            corners = None if box is None else torch.stack([box[0], box[1], box[0] + box[2], box[1] + box[3]])
            view = serving.view(objective, w, h, corners, ops)
            x = self.frame(photo, view, h, w)
            out = self.network(torch.cat([x, torch.flip(x, dims=[2])]) if flip else x)
            out = objective.merge_flipped(out[:1], out[1:], ops)[0] if flip else out[0]
            return objective.served(objective.to_photo(out, view, ops), ops)

    return PhotoServing()


def _imports():
    """(torch, onnx, torch_resnet): the optional extra, named when it is missing."""
    try:
        import onnx
        import torch

        from jaxres.export import torch_resnet
    except ImportError as err:
        raise UserError(f"export --format onnx needs torch and onnx: pip install 'jaxres[onnx]' ({err})") from err
    return torch, onnx, torch_resnet
