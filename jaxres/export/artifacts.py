"""Hand a trained model to someone else: a serving artifact, a PyTorch state dict, or raw variables.

- `stablehlo`: a `jax.export` artifact; a server needs JAX and the file, nothing of jaxres. The photo
  form (what `export` writes) takes `photo` uint8 (H, W, C), any H and W (and `box` for keypoint and
  box tasks, `Objective.takes_box`) and answers in the photo's pixels; the crop-in form takes framed
  uint8 images (b, H, W, C) and returns raw outputs.
- `onnx`: the same two forms for onnxruntime (`jaxres.export.onnx`, the `onnx` extra).
- `torchvision`: a state dict torchvision's `ResNet` loads with `strict=True`, and `<file>.txt`, the
  lines that build the module it fits.
- `safetensors`: the Flax variables under flat `collection/module/…/leaf` keys, read back bit for bit.

Every file is written atomically (`files.write_chunks`), so a crash or a full disk never leaves half
an artifact, with its `<file>.sha256`, which jaxres checks whenever it reads one back.
"""

from __future__ import annotations

import json
import pathlib
from typing import Callable, Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

import jaxres
from jaxres import weights
from jaxres.errors import UserError
from jaxres.export import onnx
from jaxres.models import ARCHS, normalize, preprocess
from jaxres.objectives import serving
from jaxres.platform import files

FORMATS = ("stablehlo", "torchvision", "safetensors", "onnx")
# Lowering for CUDA needs no GPU: one artifact then serves CPU and GPU hosts alike.
PLATFORMS = ("cpu", "cuda")
TORCHVISION_SUFFIXES = (".pth", ".pt", ".safetensors")
_SEP = "/"


# ---------------------------------------------------------------------------------------- StableHLO


def export_stablehlo(model, variables: Mapping, path, *, image_size: tuple[int, int],
                     platforms: Iterable[str] = PLATFORMS, metadata: Mapping | None = None) -> pathlib.Path:
    """Write `path` (serialized `jax.export.Exported`) and `<path>.json`: `uint8 (b, H, W, C) -> float32
    outputs` with `b` symbolic, one file for every batch size; `metadata` (JSON-serialisable) goes into the
    sidecar as is."""
    variables, channels = jax.device_get(variables), model.in_channels

    def infer(images):
        return model.apply(variables, normalize(images, channels), train=False).astype(jnp.float32)

    shape = jax.export.symbolic_shape("b, {}, {}, {}".format(*image_size, channels))
    exported = _export(infer, [jax.ShapeDtypeStruct(shape, jnp.uint8)], platforms, path)
    gray = channels == 1
    return _write_artifact(exported, model, path, metadata, {
        "jaxres_version": jaxres.__version__,
        "head": model.head,
        "input": {"shape": _shape(exported.in_avals[0]), "dtype": "uint8", "layout": "NHWC"},
        "output": {"shape": _shape(exported.out_avals[0]), "dtype": "float32"},
        "num_outputs": model.num_outputs,
        "num_keypoints": model.num_keypoints,
        "normalization": {
            "applied_inside": True,
            "formula": "(uint8 / 255 - mean) / std",
            "mean": list(preprocess.GRAY_MEAN if gray else preprocess.IMAGENET_MEAN),
            "std": list(preprocess.GRAY_STD if gray else preprocess.IMAGENET_STD),
        },
    })


def export_stablehlo_photo(model, objective, variables: Mapping, path, *, platforms: Iterable[str] = PLATFORMS,
                           metadata: Mapping | None = None) -> pathlib.Path:
    """Write `path` and `<path>.json`: `serving.photo_function` exported with symbolic photo height and
    width, the variables as constants; inputs `photo` (and `box`), output `objective.output_name`."""
    served = serving.photo_function(model, objective, jax.device_get(variables))
    specs = [jax.ShapeDtypeStruct(jax.export.symbolic_shape(f"h, w, {model.in_channels}"), jnp.uint8)]
    inputs = {"photo": {"shape": ["h", "w", model.in_channels], "dtype": "uint8", "layout": "HWC"}}
    if objective.takes_box:
        specs.append(jax.ShapeDtypeStruct((4,), jnp.float32))
        inputs["box"] = {"shape": [4], "dtype": "float32", "order": "left, top, width, height"}
    exported = _export(served, specs, platforms, path)
    output = {objective.output_name: {"shape": _shape(exported.out_avals[0]), "dtype": "float32"}}
    return _write_artifact(exported, model, path, metadata, {"inputs": inputs, "output": output})


def _export(fn, specs: list, platforms: Iterable[str], path):
    """`fn` traced once for `specs`' symbolic shapes; the variables it closes over become constants."""
    try:
        return jax.export.export(jax.jit(fn), platforms=tuple(platforms))(*specs)
    except ValueError as err:  # an unknown platform name
        raise UserError(f"cannot export: {err}", where=str(path)) from err


def _write_artifact(exported, model, path, metadata: Mapping | None, facts: dict) -> pathlib.Path:
    """The artifact with its checksum, and its sidecar: the facts a server needs without deserializing it or
    reading jaxres's code."""
    sidecar = {"format": "jax.export (StableHLO)", "jax_version": jax.__version__,
               "calling_convention_version": exported.calling_convention_version,
               "platforms": list(exported.platforms), "arch": arch_name(model), **facts,
               "metadata": dict(metadata or {})}
    try:
        blob = exported.serialize()
    except ImportError as err:  # jax imports flatbuffers only when serializing
        raise UserError("jax.export serialization needs flatbuffers: pip install flatbuffers", where=str(path)) from err
    try:  # before writing anything: metadata that is not JSON must not leave an artifact without a sidecar
        text = json.dumps(sidecar, indent=2) + "\n"
    except TypeError as err:
        raise UserError(f"metadata is not JSON-serialisable: {err}", where=str(path)) from err
    files.write_chunks(path, [blob], checksum=True)
    files.write_chunks(sidecar_path(path), [text.encode()])
    return pathlib.Path(path)


def sidecar_path(path, suffix: str = ".json") -> pathlib.Path:
    """A file beside an export: `<file>.json`, a StableHLO artifact's facts, or `<file>.txt`, the lines that
    load a torchvision state dict."""
    path = pathlib.Path(path)
    return path.with_name(path.name + suffix)


def _shape(aval) -> list:
    return [d if isinstance(d, int) else str(d) for d in aval.shape]


def load_stablehlo(path) -> Callable[..., np.ndarray]:
    """`path` (its checksum checked) -> predict(photo uint8 (H, W, C)[, box (4,)]) for the photo form,
    predict(uint8 images (B, H, W, C)) for the crop-in form -> float32 np.ndarray. Jitted, so each
    input shape compiles once; a wrong shape or dtype is named here rather than deep inside XLA."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError("exported model not found", where=str(path))
    files.check_checksum(path)
    try:
        exported = jax.export.deserialize(bytearray(path.read_bytes()))
    except Exception as err:  # noqa: BLE001  any failure means: not a jax.export artifact we can read
        raise UserError(f"not a readable jax.export artifact ({type(err).__name__}: {err})", where=str(path)) from err
    expected = exported.in_avals[0]
    call = jax.jit(exported.call)

    def predict(images, *box) -> np.ndarray:
        images = np.asarray(images)
        if (images.dtype != np.uint8 or images.ndim != len(expected.shape)
                or any(isinstance(e, int) and e != g for e, g in zip(expected.shape, images.shape))):
            raise UserError(
                f"expects uint8 images shaped {_shape(expected)}, got {images.dtype} {list(images.shape)}",
                where=str(path),
            )
        return np.asarray(call(images, *(np.asarray(b, np.float32) for b in box)))

    return predict


# -------------------------------------------------------------------------------------- torchvision


def export_torchvision(model, variables: Mapping, path) -> pathlib.Path:
    """A torchvision-keyed state dict (.pth/.pt/.safetensors) that loads with `strict=True`, its
    checksum, and at `sidecar_path(path, ".txt")` the lines that build the module it fits and load it."""
    path = pathlib.Path(path)
    if path.suffix.lower() not in TORCHVISION_SUFFIXES:
        raise UserError(
            f"torchvision export writes {', '.join(TORCHVISION_SUFFIXES)}, not {path.suffix!r}", where=str(path)
        )
    weights.save_torchvision(variables, model, path)
    files.write_checksum(path)
    head, load = (("import safetensors.torch\n", f'safetensors.torch.load_file("{path.name}")')
                  if path.suffix.lower() == ".safetensors" else ("", f'torch.load("{path.name}", map_location="cpu")'))
    code = (f"import torch\nimport torchvision\n{head}\n{torchvision_recipe(model)}\nstate = {load}\n"
            "model.load_state_dict(state, strict=True)\nmodel.eval()\n")
    files.write_chunks(sidecar_path(path, ".txt"), [code.encode()])
    return path


def torchvision_recipe(model) -> str:
    """Python that builds the torch module this model's state dict fits (names `torch`, `torchvision`)."""
    lines = [f"model = torchvision.models.{arch_name(model)}(num_classes={model.num_outputs})"]
    if model.in_channels != 3:
        lines.append(
            f"model.conv1 = torch.nn.Conv2d({model.in_channels}, 64, kernel_size=7, stride=2, padding=3, bias=False)"
        )
    if model.head == "mlp":
        lines.append(
            f"model.fc = torch.nn.Sequential(torch.nn.Linear({model.feature_width}, {model.hidden}), "
            f"torch.nn.ReLU(), torch.nn.Dropout({model.dropout}), torch.nn.Linear({model.hidden}, {model.num_outputs}))"
        )
    if model.num_keypoints is not None:
        lines.append(f"# outputs are (x, y) pairs: keypoints = model(images).view(-1, {model.num_keypoints}, 2)")
    return "\n".join(lines)


def arch_name(model) -> str:
    """torchvision's name for the backbone (the Module keeps its block and stage sizes, not a name)."""
    for name, (block, stages) in ARCHS.items():
        if block == model.block and tuple(stages) == tuple(model.stage_sizes):
            return name
    raise UserError(f"no torchvision architecture has {model.block} blocks {tuple(model.stage_sizes)}")


# -------------------------------------------------------------------------------------- safetensors


def export_safetensors(variables: Mapping, path) -> pathlib.Path:
    """Every Flax variable under its flat key (`params/layer1_0/conv1/kernel`), values unchanged."""
    path = pathlib.Path(path)
    if path.suffix.lower() != ".safetensors":
        raise UserError(f"safetensors export writes a .safetensors file, not {path.suffix!r}", where=str(path))
    flat = flatten_dict(jax.device_get(dict(variables)), sep=_SEP)
    weights.write_state_dict({key: np.asarray(leaf) for key, leaf in flat.items()}, path)
    files.write_checksum(path)
    return path


def load_safetensors_variables(path) -> dict:
    """The nested {"params": …, "batch_stats": …} that `export_safetensors` wrote (checksum checked)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError("variables file not found", where=str(path))
    files.check_checksum(path)
    flat = weights.read_state_dict(path)
    if flat and not all(_SEP in key for key in flat):
        raise UserError(
            "holds no flat Flax keys (collection/module/leaf); a torchvision state dict loads with "
            "jaxres.weights.load_torchvision",
            where=str(path),
        )
    return unflatten_dict(flat, sep=_SEP)


# ----------------------------------------------------------------------------------------- dispatch

# the options each format takes (the weights-only formats take none)
_OPTIONS = {"stablehlo": {"image_size", "channels", "platforms", "metadata"},
            "onnx": {"image_size", "channels", "metadata"}}


def export_photo(fmt: str, model, objective, variables: Mapping, path, metadata: Mapping) -> pathlib.Path:
    """The photo form of `stablehlo` and `onnx`; the weights-only formats as `export` writes them."""
    if fmt == "stablehlo":
        return export_stablehlo_photo(model, objective, variables, path, metadata=metadata)
    if fmt == "onnx":
        return onnx.export_onnx_photo(model, objective, variables, path, metadata=metadata)
    return export(fmt, model, variables, path)


def export(fmt: str, model, variables: Mapping, path, **meta) -> pathlib.Path:
    """Export in format `fmt`. Options meant for another format are dropped, so a command line can
    pass one set for all; an option no format knows is an error (it is most likely a typo). The crop-in
    forms take `image_size` (an int or (height, width)) and check `channels` against the model's."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    known = set().union(*_OPTIONS.values())
    unknown = sorted(set(meta) - known)
    if unknown:
        raise UserError(f"unknown export option(s) {unknown}; known: {sorted(known)}")
    options = {k: v for k, v in meta.items() if k in _OPTIONS.get(fmt, ())}
    if fmt == "torchvision":
        return export_torchvision(model, variables, path)
    if fmt == "safetensors":
        return export_safetensors(variables, path)
    channels = options.pop("channels", model.in_channels)
    if channels != model.in_channels:
        raise UserError(f"channels={channels} but the model takes {model.in_channels}-channel images", where=str(path))
    size = options.pop("image_size", None)
    if size is None:
        raise UserError(f"the {fmt} export needs image_size (the side of the square input, or (height, width))")
    options["image_size"] = (size, size) if isinstance(size, int) else tuple(size)
    if fmt == "onnx":
        return onnx.export_onnx(model, variables, path, **options)
    return export_stablehlo(model, variables, path, **options)
