"""`--weights` by name: torchvision's V1/V2 files over a loopback HTTP server, timm's hub names from
a local Hugging Face cache; each verified against the SHA-256 it is stored under."""

import hashlib
import http.server
import pathlib
import threading

import jax
import numpy as np
import pytest

from jaxres import models, weights
from jaxres.train.assembly import initial_variables
from jaxres.errors import WeightsError
from jaxres.weights import hub, imagenet, named

HUB_NAME = "hf-hub:timm/resnet18.a1_in1k"


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A loopback server with a fake resnet50 V2 file; the caches in tmp_path."""
    folder = tmp_path / "served"
    folder.mkdir()
    payload = b"not really resnet50 V2 weights"
    name = f"resnet50-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    (folder / name).write_bytes(payload)
    monkeypatch.setitem(imagenet.FILES_V2, "resnet50", name)
    monkeypatch.setenv("JAXRES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(folder), **k)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("JAXRES_WEIGHTS_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/")
    yield payload, requests
    server.shutdown()


def test_torchvision_v2_files_are_the_published_ones():
    assert imagenet.FILES["resnet50"] == "resnet50-0676ba61.pth"  # `imagenet` stays V1
    assert imagenet.url_for("resnet50", "V2") == "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
    with pytest.raises(WeightsError, match="no ImageNet V2 weights known for 'resnet18'"):
        named.cached_path("imagenet_v2", "resnet18")


@pytest.mark.parametrize("choice", ["imagenet_v2", "IMAGENET1K_V2"])
def test_v2_downloads_once_then_works_offline(served, monkeypatch, choice):
    payload, requests = served
    assert named.cached_path(choice, "resnet50") is None
    path = named.fetch(choice, "resnet50")
    assert path.read_bytes() == payload and requests == [f"/{imagenet.FILES_V2['resnet50']}"]
    monkeypatch.setenv("JAXRES_WEIGHTS_BASE_URL", "http://127.0.0.1:9/")  # nothing listens there
    assert named.fetch(choice, "resnet50") == path == named.cached_path(choice, "resnet50") and len(requests) == 1
    assert named.cached_path("imagenet", "resnet50") is None  # V1 is another file


def _hub_cache(root: pathlib.Path, repo: str, payload: bytes, blob_name: str | None = None) -> pathlib.Path:
    """huggingface_hub's cache layout: blobs/<sha256>, snapshots/<commit>/<file> -> blob, refs/main."""
    folder = root / ("models--" + repo.replace("/", "--"))
    blob = folder / "blobs" / (blob_name or hashlib.sha256(payload).hexdigest())
    blob.parent.mkdir(parents=True)
    blob.write_bytes(payload)
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = folder / "snapshots" / commit / hub.FILENAME
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(pathlib.Path("../../blobs") / blob.name)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def resnet18():
    model = models.create("resnet18", num_outputs=10)
    return model, jax.device_get(models.init(model, 0, image_size=32))


def test_hub_name_loads_from_a_local_cache(tmp_path, monkeypatch, resnet18):
    model, variables = resnet18
    weights.save_torchvision(variables, model, tmp_path / "timm.safetensors")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = _hub_cache(tmp_path / "hub", "timm/resnet18.a1_in1k", (tmp_path / "timm.safetensors").read_bytes())
    assert named.is_named(HUB_NAME) and named.cached_path(HUB_NAME, "resnet18") == snapshot
    assert named.fetch(HUB_NAME, "resnet18") == snapshot
    config = {"model": {"arch": "resnet18", "weights": HUB_NAME, "head_init": "default"}, "train": {"seed": 0}}
    loaded = initial_variables(model, config, synthetic=True)
    assert jax.tree.all(jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)), loaded, variables))


def test_hub_file_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    _hub_cache(tmp_path / "hub", "timm/resnet18.a1_in1k", b"tampered", blob_name="0" * 64)
    assert hub.cached_path(HUB_NAME) is None
    import huggingface_hub

    # what a download would hand back: the same (bad) blob
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, filename, **k: str(
        tmp_path / "hub" / "models--timm--resnet18.a1_in1k" / "blobs" / ("0" * 64)))
    with pytest.raises(WeightsError, match="fails its SHA-256 check"):
        hub.fetch(HUB_NAME)


def test_hub_download_is_called_with_the_name_and_revision(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub

    calls = []

    def download(repo, filename, **kwargs):
        calls.append((repo, filename, kwargs["revision"], kwargs["cache_dir"]))
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    with pytest.raises(WeightsError, match="cannot get model.safetensors of timm/resnet50.a1_in1k"):
        hub.fetch("hf-hub:timm/resnet50.a1_in1k@v2")
    assert calls == [("timm/resnet50.a1_in1k", "model.safetensors", "v2", str(tmp_path / "hub"))]
    with pytest.raises(WeightsError, match="expected hf-hub:OWNER/NAME"):
        hub.repo_of("hf-hub:resnet50")
