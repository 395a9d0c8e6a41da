"""torchvision's ImageNet ResNet weights, downloaded once, verified, reused offline.

IMAGENET1K_V1 (`--weights imagenet`) and IMAGENET1K_V2 (none for ResNet-18/34), as torchvision's `.pth`
(file name carrying its SHA-256 prefix) or timm's `.safetensors` conversion (checked against the
server's stated SHA-256 and cached under a name carrying it); PyTorch's hub cache is reused."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import urllib.error
import urllib.request

from jaxres.errors import WeightsError
from jaxres.platform import cache_paths, files

BASE_URL = "https://download.pytorch.org/models/"
# IMAGENET1K_V1, the weights the original projects loaded with `pretrained=True`.
FILES = {"resnet18": "resnet18-f37072fd.pth", "resnet34": "resnet34-b627a593.pth", "resnet50": "resnet50-0676ba61.pth",
         "resnet101": "resnet101-63fe2227.pth", "resnet152": "resnet152-394f9c45.pth"}
# IMAGENET1K_V2 (torchvision's resnet.py, "IMAGENET1K_V2" weights enums).
FILES_V2 = {"resnet50": "resnet50-11ad3fa6.pth", "resnet101": "resnet101-cd907fc2.pth",
            "resnet152": "resnet152-f82ba261.pth"}
VERSIONS = {"V1": FILES, "V2": FILES_V2}
HF_BASE_URL = "https://huggingface.co/"
# timm's model tags for the same tensors as safetensors (timm's resnet.py: "tv_in1k" = torchvision's V1)
_TIMM_TAGS = {"V1": "tv_in1k", "V2": "tv2_in1k"}
SHA256 = re.compile(r"[0-9a-f]{64}")
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")


def cache_dir() -> pathlib.Path:
    return cache_paths.root() / "weights"


def file_name(arch: str, version: str = "V1") -> str:
    files = VERSIONS.get(version)
    if files is None:
        raise WeightsError(f"no ImageNet weights version {version!r}; versions: {', '.join(VERSIONS)}")
    if arch not in files:
        raise WeightsError(f"no ImageNet {version} weights known for {arch!r}; known: {sorted(files)}")
    return files[arch]


def url_for(arch: str, version: str = "V1") -> str:
    return os.environ.get("JAXRES_WEIGHTS_BASE_URL", BASE_URL).rstrip("/") + "/" + file_name(arch, version)


def cached_path(arch: str, version: str = "V1") -> pathlib.Path | None:
    """The verified local file for `arch`, or None. Never touches the network."""
    name = VERSIONS.get(version, {}).get(arch)
    torch_home = os.environ.get("TORCH_HOME", os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch"))
    torch_hub = pathlib.Path(torch_home).expanduser() / "hub" / "checkpoints"  # PyTorch's own download cache
    return None if name is None else _first_verified([cache_dir() / name, torch_hub / name])


def fetch(arch: str, *, version: str = "V1", timeout: float = 60.0) -> pathlib.Path:
    """The ImageNet weights file for `arch`: from the cache, else downloaded and verified."""
    found = cached_path(arch, version)
    if found is not None:
        return found
    url = url_for(arch, version)
    target = cache_dir() / file_name(arch, version)
    try:
        refusal = WeightsError(f"downloaded file from {url} fails its SHA-256 check; not kept", where=str(target))
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return _save(response, target, lambda tmp: _hash_ok(tmp, name=target.name), refusal)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise WeightsError(f"cannot download ImageNet weights from {url} ({getattr(err, 'reason', err)}); "
                           f"download it by hand and put it at {target}", where=arch) from err


def safetensors_name(arch: str, version: str = "V1") -> str:
    """timm's model name holding `arch`'s torchvision weights of `version` (a WeightsError when none)."""
    file_name(arch, version)
    return f"{arch}.{_TIMM_TAGS[version]}"


def safetensors_url(arch: str, version: str = "V1") -> str:
    base = os.environ.get("JAXRES_HF_BASE_URL", HF_BASE_URL).rstrip("/")
    return f"{base}/timm/{safetensors_name(arch, version)}/resolve/main/model.safetensors"


def safetensors_place(arch: str, version: str = "V1") -> pathlib.Path:
    """Where a hand-downloaded model.safetensors goes (and is found) for `arch` and `version`."""
    return cache_dir() / f"{safetensors_name(arch, version)}.safetensors"


def cached_safetensors(arch: str, version: str = "V1") -> pathlib.Path | None:
    """The verified safetensors form in the cache (downloaded or put there by hand), or None; offline."""
    if arch not in VERSIONS.get(version, {}):
        return None
    name = safetensors_name(arch, version)
    return _first_verified(sorted(cache_dir().glob(f"{name}-*.safetensors")) + [cache_dir() / f"{name}.safetensors"])


def fetch_safetensors(arch: str, *, version: str = "V1", timeout: float = 60.0) -> pathlib.Path:
    """The safetensors form: cached, else downloaded and kept only if it has the SHA-256 the server states."""
    found = cached_safetensors(arch, version)
    if found is not None:
        return found
    url = safetensors_url(arch, version)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            # a Hugging Face server states a large (LFS) file's SHA-256 as its linked ETag
            etags = ((response.headers.get(k) or "").removeprefix("W/").strip('"').lower()
                     for k in ("X-Linked-Etag", "ETag"))
            stated = next((etag for etag in etags if SHA256.fullmatch(etag)), None)
            if stated is None:
                raise WeightsError(f"the server states no SHA-256 for {url}; not downloaded", where=arch)
            target = cache_dir() / f"{safetensors_name(arch, version)}-{stated[:12]}.safetensors"
            return _save(response, target, lambda tmp: files.sha256(tmp) == stated,
                         WeightsError(f"the file from {url} fails its SHA-256 check; not kept", where=arch))
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise WeightsError(f"cannot download {url} ({getattr(err, 'reason', err)})", where=arch) from err


def _save(response, target: pathlib.Path, verified, refusal: WeightsError) -> pathlib.Path:
    """`response` streamed into `target` atomically, kept only if `verified(tmp)`, else `refusal` raised."""
    with files.atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
        if not verified(tmp):
            raise refusal
    return target


def _first_verified(paths) -> pathlib.Path | None:
    return next((path for path in paths if path.is_file() and _hash_ok(path)), None)


def _hash_ok(path: pathlib.Path, name: str | None = None) -> bool:
    match = _HASH_IN_NAME.search(name or path.name)
    return True if match is None else files.sha256(path).startswith(match[1])
