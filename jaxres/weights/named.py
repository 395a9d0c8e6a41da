"""`--weights` by name to a verified local file: `imagenet`/`imagenet_v1`/`IMAGENET1K_V1`,
`imagenet_v2`/`IMAGENET1K_V2` (ResNet-50/101/152), `hf-hub:timm/<model>`; anything else but `none` is a
path. A download fetches the `.pth` where torch is installed, else the safetensors form."""

from __future__ import annotations

import importlib.util
import pathlib

from jaxres.errors import WeightsError
from jaxres.weights import hub, imagenet

TORCHVISION = {"imagenet": "V1", "imagenet_v1": "V1", "imagenet1k_v1": "V1",
               "imagenet_v2": "V2", "imagenet1k_v2": "V2"}


def is_named(choice: str) -> bool:
    return str(choice).lower() in TORCHVISION or hub.is_hub_name(choice)


def cached_path(choice: str, arch: str) -> pathlib.Path | None:
    """The verified local file a name stands for, or None; never touches the network."""
    if hub.is_hub_name(choice):
        return hub.cached_path(choice)
    version = TORCHVISION[str(choice).lower()]
    imagenet.file_name(arch, version)  # a WeightsError for a version the architecture lacks
    found = imagenet.cached_safetensors(arch, version)
    if found is None:
        try:  # the safetensors form in the Hugging Face hub cache, where huggingface_hub is installed
            found = hub.cached_path(f"{hub.PREFIX}timm/{imagenet.safetensors_name(arch, version)}")
        except WeightsError:  # no huggingface_hub: that cache cannot be read
            pass
    return found or (imagenet.cached_path(arch, version) if torch_installed() else None)


def fetch(choice: str, arch: str) -> pathlib.Path:
    """The file a name stands for: cached, else downloaded and verified."""
    if hub.is_hub_name(choice):
        return hub.fetch(choice)
    version = TORCHVISION[str(choice).lower()]
    found = cached_path(choice, arch)
    if found is not None:
        return found
    problems = []
    routes = [imagenet.fetch, imagenet.fetch_safetensors] if torch_installed() else [imagenet.fetch_safetensors]
    for route in routes:
        try:
            return route(arch, version=version)
        except WeightsError as err:
            problems.append(str(err))
    pth = imagenet.cache_dir() / imagenet.file_name(arch, version)
    raise WeightsError(
        f"cannot get the ImageNet {version} weights of {arch} ({'; '.join(problems)}). Without network, put "
        f"either file there by hand: {imagenet.safetensors_url(arch, version)} saved as "
        f"{imagenet.safetensors_place(arch, version)} (no torch needed), or {imagenet.url_for(arch, version)} "
        f"saved as {pth} (needs the torch extra)", where=choice)


def torch_installed() -> bool:
    """Whether a `.pth` can be read here (the torch extra)."""
    return importlib.util.find_spec("torch") is not None


def cache_hint(choice: str, arch: str) -> str:
    """Where the file of a name is looked for, and under which names (for a message)."""
    if hub.is_hub_name(choice):
        return "the Hugging Face hub cache"
    version = TORCHVISION[str(choice).lower()]
    return (f"{imagenet.cache_dir()} ({imagenet.safetensors_place(arch, version).name} or "
            f"{imagenet.file_name(arch, version)})")
