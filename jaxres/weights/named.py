"""`--weights` by name: torchvision's ImageNet versions and timm's hub names, to a verified local file.

- `imagenet`, `imagenet_v1`, `IMAGENET1K_V1`: torchvision's V1 file (the original projects' weights);
- `imagenet_v2`, `IMAGENET1K_V2`: torchvision's V2 file (ResNet-50/101/152 only);
- `hf-hub:timm/<model>` (e.g. `hf-hub:timm/resnet50.a1_in1k`): timm's model.safetensors.
Anything else (`none` aside) is a path, handled by the caller.
"""

from __future__ import annotations

import pathlib

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
    return imagenet.cached_path(arch, version)


def fetch(choice: str, arch: str) -> pathlib.Path:
    """The file a name stands for: cached, else downloaded and verified."""
    if hub.is_hub_name(choice):
        return hub.fetch(choice)
    return imagenet.fetch(arch, version=TORCHVISION[str(choice).lower()])


def cache_hint(choice: str) -> str:
    return "the Hugging Face hub cache" if hub.is_hub_name(choice) else str(imagenet.cache_dir())
