"""timm's ResNet weights from the Hugging Face Hub by name (`hf-hub:timm/resnet50.a1_in1k`): torchvision's
parameter names, cached by huggingface_hub (optional `hub` extra), each blob's SHA-256 rechecked before use."""

from __future__ import annotations

import os
import pathlib

from jaxres.errors import WeightsError
from jaxres.platform.files import sha256
from jaxres.weights.imagenet import SHA256

PREFIX = "hf-hub:"
FILENAME = "model.safetensors"


def is_hub_name(choice: str) -> bool:
    return str(choice).startswith(PREFIX)


def repo_of(choice: str) -> tuple[str, str | None]:
    """'hf-hub:timm/resnet50.a1_in1k[@revision]' -> (repo id, revision or None)."""
    repo, _, revision = str(choice)[len(PREFIX):].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise WeightsError(f"expected hf-hub:OWNER/NAME (e.g. hf-hub:timm/resnet50.a1_in1k), got {choice!r}")
    return repo, revision or None


def _hub():
    try:
        import huggingface_hub
    except ImportError as err:
        raise WeightsError("hf-hub: weights need huggingface_hub: pip install 'jaxres[hub]'") from err
    return huggingface_hub


def cached_path(choice: str) -> pathlib.Path | None:
    """The verified cached file, or None. Never touches the network."""
    repo, revision = repo_of(choice)
    found = _hub().try_to_load_from_cache(repo, FILENAME, cache_dir=_cache_dir(), revision=revision)
    if not isinstance(found, (str, os.PathLike)):
        return None
    path = pathlib.Path(found)
    return path if path.is_file() and _verified(path) else None


def fetch(choice: str) -> pathlib.Path:
    """The weights file of a hub name: from the cache, else downloaded (then verified)."""
    found = cached_path(choice)
    if found is not None:
        return found
    repo, revision = repo_of(choice)
    hub = _hub()
    try:
        path = pathlib.Path(hub.hf_hub_download(repo, FILENAME, revision=revision, cache_dir=_cache_dir()))
    except Exception as err:  # noqa: BLE001 - offline, unknown repo, no such file: all one answer
        raise WeightsError(f"cannot get {FILENAME} of {repo} from the Hugging Face Hub ({type(err).__name__}: "
                           f"{err}); with no network, put the file into the hub cache first", where=choice) from err
    if not _verified(path):
        raise WeightsError(f"{path} fails its SHA-256 check (its cache blob name); delete it and retry", where=choice)
    return path


def _verified(path: pathlib.Path) -> bool:
    """True unless the cache blob's name is a SHA-256 the contents do not have."""
    blob = path.resolve().name
    return not SHA256.fullmatch(blob) or sha256(path) == blob


def _cache_dir() -> str | None:
    return os.environ.get("HF_HUB_CACHE") or None  # read per call: huggingface_hub reads it once, at import
