"""Flat state dicts {key: np.ndarray} in .pth, .safetensors and .npz, never unpickled; a file read is
refused unless every tensor is floating point and finite."""

from __future__ import annotations

import os
import pathlib
from typing import Mapping

import numpy as np

from jaxres.errors import WeightsError
from jaxres.platform import files

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
# Training scripts often save {"state_dict": …} or {"model": …}, and DataParallel adds "module.".
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
_INTEGER_KEYS = ("num_batches_tracked",)  # BatchNorm's counter is an integer by design
_EXTRA_FLOATS = ("bfloat16",)  # ml_dtypes' bfloat16 is not a numpy floating subtype
# torch.save writes a zip archive; files from torch < 1.6 are a pickle stream (protocol byte 0x80).
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    path = pathlib.Path(path)
    if not path.is_file():
        raise WeightsError("weights file not found", where=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix in TORCH_SUFFIXES:
            state = _read_torch(path)
        elif suffix == ".safetensors":
            from safetensors.numpy import load_file

            state = load_file(str(path))
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                state = {k: archive[k] for k in archive.files}
        else:
            raise WeightsError(f"unknown weights format {suffix!r}; expected one of "
                               f"{TORCH_SUFFIXES + ('.safetensors', '.npz')}", where=str(path))
    except WeightsError:
        raise
    except Exception as err:  # any reader's failure means: not a weights file of that kind
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise WeightsError(f"cannot read as {suffix} weights: {first_line}", where=str(path)) from err
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return checked_tensors(state, str(path))


def checked_tensors(state: Mapping[str, np.ndarray], where: str) -> Mapping[str, np.ndarray]:
    """`state` unchanged, or a WeightsError naming the first non-float or non-finite tensor: a quantised
    tensor cast to float32 is another network, and a NaN would surface as a non-finite first loss."""
    for key, value in state.items():
        if key.endswith(_INTEGER_KEYS):
            continue
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.floating) or array.dtype.name in _EXTRA_FLOATS):
            raise WeightsError(f"tensor {key!r} is {array.dtype}, not floating point (a quantised or foreign "
                               "file?); give float32/float16/bfloat16 weights", where=where)
        if not np.isfinite(array).all():
            raise WeightsError(f"tensor {key!r} holds NaN or infinity; the file is damaged", where=where)
    return state


def _torch(verb: str, where: str | None = None):
    try:
        import torch
    except ImportError as err:
        raise WeightsError(f"{verb} .pth files needs PyTorch: pip install 'jaxres[torch]'", where=where) from err
    return torch


def _read_torch(path: pathlib.Path) -> dict[str, np.ndarray]:
    torch = _torch("reading", str(path))
    with open(path, "rb") as f:  # torch.load's own error for a file of another kind is an opaque byte ("101")
        head = f.read(4)
    if not head.startswith(_TORCH_MAGIC):
        raise WeightsError(f"is not a PyTorch file (it starts with {head!r}, not a zip archive or pickle)",
                           where=str(path))
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in _WRAPPER_KEYS:
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise WeightsError(f"holds a {type(obj).__name__}, not a state dict", where=str(path))
    tensors = {k: v.detach().cpu().numpy() for k, v in obj.items() if hasattr(v, "detach")}
    if not tensors:
        keys = ", ".join(map(str, list(obj)[:5])) or "none"
        raise WeightsError(f"holds a dict without tensors (keys: {keys}), not a state dict", where=str(path))
    return tensors


def write_state_dict(state: Mapping[str, np.ndarray], path: str | os.PathLike) -> pathlib.Path:
    """Write atomically (`files.atomic_path`), so a crash never leaves half a file."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in TORCH_SUFFIXES + (".safetensors", ".npz"):
        raise WeightsError(f"unknown weights format {suffix!r}; use .pth, .safetensors or .npz", where=str(path))
    with files.atomic_path(path) as tmp:
        if suffix in TORCH_SUFFIXES:
            torch = _torch("writing")  # the copy is writable, which torch.from_numpy wants
            torch.save({k: torch.from_numpy(np.array(v, order="C", copy=True)) for k, v in state.items()}, tmp)
        elif suffix == ".safetensors":
            from safetensors.numpy import save_file

            save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, tmp)
        else:
            with open(tmp, "wb") as f:
                np.savez(f, **state)
    return path
