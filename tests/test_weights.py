"""Weights files: every mismatch named, adaptations reported, untrusted files safe, download cached."""

import functools
import hashlib
import http.server
import os
import pathlib
import pickle
import threading

import numpy as np
import pytest

from jaxres import models, weights
from jaxres.errors import WeightsError
from jaxres.weights import imagenet


@functools.lru_cache(maxsize=None)
def resnet18_state():
    model = models.create("resnet18")
    return weights.to_torchvision(models.init(model, 0, image_size=32))


def test_missing_and_renamed_keys_fail_naming_each_key():
    state = dict(resnet18_state())
    del state["layer3.1.bn2.running_var"]
    state["layer2.0.conv9.weight"] = state.pop("layer2.0.conv1.weight")
    with pytest.raises(WeightsError) as err:
        weights.load_torchvision(state, models.create("resnet18"))
    message = str(err.value)
    assert "layer3.1.bn2.running_var" in message
    assert "layer2.0.conv1.weight" in message and "layer2.0.conv9.weight" in message
    assert "\n" not in message


def test_checkpoint_of_another_architecture_is_refused():
    with pytest.raises(WeightsError, match=r"^state dict: holds a resnet18, the model is a resnet50: \d+ missing key"):
        weights.load_torchvision(resnet18_state(), models.create("resnet50"))


@pytest.mark.parametrize("content,reason", [
    ({"epoch": 3, "note": "no tensors"}, r"holds a dict without tensors \(keys: epoch, note\)"),
    ([1, 2, 3], "holds a list, not a state dict"),
])
def test_pth_without_a_state_dict_says_what_it_holds(tmp_path, content, reason):
    torch = pytest.importorskip("torch")
    path = tmp_path / "other.pth"
    torch.save(content, path)
    with pytest.raises(WeightsError, match=reason):
        weights.load_torchvision(path, models.create("resnet18"))


def test_file_that_is_no_pytorch_file_is_named_as_such(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "notes.pth"
    path.write_text("hello\n")
    with pytest.raises(WeightsError, match=r"is not a PyTorch file \(it starts with b'hell'"):
        weights.load_torchvision(path, models.create("resnet18"))


def test_shape_mismatch_is_named():
    state = dict(resnet18_state())
    state["layer1.0.conv1.weight"] = np.zeros((64, 64, 1, 1), np.float32)
    with pytest.raises(WeightsError, match=r"layer1\.0\.conv1\.weight \(64, 64, 1, 1\) vs model \(64, 64, 3, 3\)"):
        weights.load_torchvision(state, models.create("resnet18"))


def test_new_head_is_reported_and_freshly_initialised():
    model = models.create("resnet18", head="keypoints", num_keypoints=12)
    variables, report = weights.load_torchvision(resnet18_state(), model, return_report=True)
    assert report.replaced_head == ["fc.bias", "fc.weight"]
    assert variables["params"]["fc"]["kernel"].shape == (512, 24)
    np.testing.assert_array_equal(
        variables["params"]["layer4_1"]["conv2"]["kernel"],
        np.transpose(resnet18_state()["layer4.1.conv2.weight"], (2, 3, 1, 0)),
    )


def test_mlp_head_maps_to_sequential_keys():
    model = models.create("resnet18", num_outputs=5, head="mlp", hidden=32, dropout=0.6)
    state = weights.to_torchvision(models.init(model, 0, image_size=32))
    assert state["fc.0.weight"].shape == (32, 512) and state["fc.3.weight"].shape == (5, 32)
    back = weights.load_torchvision(state, model)
    np.testing.assert_array_equal(back["params"]["fc_out"]["kernel"], state["fc.3.weight"].T)


@pytest.mark.parametrize("channels", [1, 6])
def test_conv1_adaptation_preserves_response_to_gray_input(channels):
    rgb = resnet18_state()["conv1.weight"]
    model = models.create("resnet18", in_channels=channels)
    variables, report = weights.load_torchvision(resnet18_state(), model, return_report=True)
    kernel = np.asarray(variables["params"]["conv1"]["kernel"])  # HWIO
    assert kernel.shape[2] == channels and report.adapted_conv1
    # A constant image gives the same conv1 response as the RGB kernel on the same constant.
    np.testing.assert_allclose(kernel.sum(axis=2), np.transpose(rgb.sum(axis=1), (1, 2, 0)), rtol=1e-5, atol=1e-7)


def test_malicious_pickle_runs_no_code(tmp_path):
    pytest.importorskip("torch")
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"conv1.weight": Exploit()}))
    with pytest.raises(WeightsError, match="evil.pth"):
        weights.read_state_dict(path)
    assert not marker.exists()


def test_npz_with_objects_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(WeightsError, match="w.npz"):
        weights.read_state_dict(path)


def test_not_a_weights_file(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_text("hello")
    with pytest.raises(WeightsError, match="w.safetensors: cannot read"):
        weights.read_state_dict(path)


def test_module_prefix_and_wrapped_state_dicts(tmp_path):
    torch = pytest.importorskip("torch")
    state = {f"module.{k}": torch.from_numpy(np.asarray(v)) for k, v in resnet18_state().items()}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ckpt.pth")
    loaded = weights.read_state_dict(tmp_path / "ckpt.pth")
    assert set(loaded) == set(resnet18_state())


class _Server:
    """A loopback HTTP server serving one folder, counting requests."""

    def __init__(self, folder: pathlib.Path):
        self.requests = 0
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=str(folder), **k)

            def do_GET(self):
                outer.requests += 1
                super().do_GET()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def weights_server(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    payload = b"not really resnet18 weights"
    digest = hashlib.sha256(payload).hexdigest()[:8]
    monkeypatch.setitem(imagenet.FILES, "resnet18", f"resnet18-{digest}.pth")
    (served / f"resnet18-{digest}.pth").write_bytes(payload)
    (served / "resnet34-deadbeef.pth").write_bytes(payload)  # wrong hash
    monkeypatch.setitem(imagenet.FILES, "resnet34", "resnet34-deadbeef.pth")
    monkeypatch.setenv("JAXRES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    server = _Server(served)
    monkeypatch.setenv("JAXRES_WEIGHTS_BASE_URL", server.url)
    yield server, payload
    server.close()


def test_download_verifies_caches_and_then_works_offline(weights_server, monkeypatch):
    server, payload = weights_server
    path = imagenet.fetch("resnet18")
    assert path.read_bytes() == payload and server.requests == 1
    monkeypatch.setenv("JAXRES_WEIGHTS_BASE_URL", "http://127.0.0.1:9/")  # nothing listens there
    assert imagenet.fetch("resnet18") == path and server.requests == 1


def test_download_with_a_bad_hash_is_not_kept(weights_server):
    with pytest.raises(WeightsError, match="SHA-256"):
        imagenet.fetch("resnet34")
    assert imagenet.cached_path("resnet34") is None
    assert not list((imagenet.cache_dir()).glob("*"))


def test_no_network_names_the_url_and_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXRES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("JAXRES_WEIGHTS_BASE_URL", "http://127.0.0.1:9/")
    with pytest.raises(WeightsError) as err:
        imagenet.fetch("resnet50", timeout=5)
    message = str(err.value)
    assert "http://127.0.0.1:9/resnet50-0676ba61.pth" in message
    assert str(tmp_path / "cache" / "weights" / "resnet50-0676ba61.pth") in message


def test_torch_hub_cache_is_reused(tmp_path, monkeypatch, weights_server):
    _, payload = weights_server
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / imagenet.FILES["resnet18"]).write_bytes(payload)
    assert imagenet.cached_path("resnet18") == hub / imagenet.FILES["resnet18"]
