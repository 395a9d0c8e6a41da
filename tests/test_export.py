"""Exports: the StableHLO artifact serves any batch without jaxres, torchvision loads the state dict
strictly and agrees, safetensors round-trips bit for bit, and no failed write leaves a file behind."""

import json
import os
import subprocess
import sys
import textwrap
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

from jaxres import models
from jaxres.export import artifacts as export
from jaxres.platform import files
from jaxres.errors import UserError

SIZE = 32


def randomised(variables, seed: int = 0):
    """Every variable scaled and shifted, so no parity check passes on identity BatchNorms."""
    rng = np.random.default_rng(seed)

    def perturb(path, leaf):
        leaf = np.asarray(leaf)
        scale = rng.uniform(0.75, 1.25, leaf.shape).astype(np.float32)
        shift = 0 if path[-1].key == "var" else 0.05 * rng.standard_normal(leaf.shape).astype(np.float32)
        return leaf * scale + shift

    return jax.tree_util.tree_map_with_path(perturb, variables)


def reference(model, variables, images):
    """What the artifact must equal: the model on normalised images, in this process."""
    apply = jax.jit(lambda v, x: model.apply(v, models.normalize(x, model.in_channels), train=False))
    return np.asarray(apply(variables, jnp.asarray(images)))


def relative_error(got, want) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def uint8_images(batch: int, channels: int = 3, seed: int = 0):
    return np.random.default_rng(seed).integers(0, 256, (batch, SIZE, SIZE, channels), dtype=np.uint8)


@pytest.fixture(scope="module")
def keypoint_model():
    model = models.create("resnet18", head="keypoints", num_keypoints=5)
    return model, randomised(models.init(model, 0, image_size=SIZE))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory, keypoint_model):
    pytest.importorskip("flatbuffers", reason="jax.export serialization needs flatbuffers")
    model, variables = keypoint_model
    path = tmp_path_factory.mktemp("hlo") / "model.hlo"
    export.export("stablehlo", model, variables, path, image_size=SIZE, channels=3, metadata={"task": "test"})
    return path


def test_stablehlo_matches_model_at_two_batch_sizes(artifact, keypoint_model):
    predict = export.load_stablehlo(artifact)
    for batch in (1, 3):
        images = uint8_images(batch, seed=batch)
        got = predict(images)
        assert got.dtype == np.float32 and got.shape == (batch, 5, 2)
        assert relative_error(got, reference(*keypoint_model, images)) <= 1e-5


def test_stablehlo_sidecar_describes_the_artifact(artifact):
    meta = json.loads(export.sidecar_path(artifact).read_text())
    assert meta["input"] == {"shape": ["b", SIZE, SIZE, 3], "dtype": "uint8", "layout": "NHWC"}
    assert meta["output"]["shape"] == ["b", 5, 2] and meta["num_keypoints"] == 5
    assert meta["normalization"]["mean"] == [0.485, 0.456, 0.406]
    assert set(meta["platforms"]) == {"cpu", "cuda"} and meta["arch"] == "resnet18"
    assert meta["metadata"] == {"task": "test"} and meta["jaxres_version"]
    # Readable as any new file would be, not mkstemp's 0600: a server may run as another user.
    assert artifact.stat().st_mode & 0o777 == files.new_file_mode()


def test_stablehlo_runs_in_a_process_with_only_jax_and_numpy(artifact, keypoint_model, tmp_path):
    images = uint8_images(2, seed=7)
    np.save(tmp_path / "images.npy", images)
    script = textwrap.dedent(
        f"""
        import sys
        import jax, numpy as np
        exported = jax.export.deserialize(bytearray(open({str(artifact)!r}, "rb").read()))
        out = np.asarray(exported.call(np.load({str(tmp_path / "images.npy")!r})))
        np.save({str(tmp_path / "out.npy")!r}, out)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("jaxres", "flax", "torch"))
        assert not leaked, leaked
        """
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env, timeout=300)
    got = np.load(tmp_path / "out.npy")
    assert relative_error(got, reference(*keypoint_model, images)) <= 1e-5


def test_stablehlo_loader_names_the_expected_input(artifact):
    predict = export.load_stablehlo(artifact)
    with pytest.raises(UserError, match=r"uint8 images shaped \['b', 32, 32, 3\], got float32"):
        predict(np.zeros((1, SIZE, SIZE, 3), np.float32))
    with pytest.raises(UserError, match="got uint8 \\[1, 64, 64, 3\\]"):
        predict(np.zeros((1, 64, 64, 3), np.uint8))


# The torch module is built by executing `torchvision_recipe`, so the documented changes are tested.
@pytest.mark.parametrize(
    "create, suffix",
    [
        (dict(num_outputs=7), ".pth"),
        (dict(num_outputs=6, in_channels=1, head="mlp", hidden=32, dropout=0.5), ".safetensors"),
        (dict(head="keypoints", num_keypoints=4), ".pth"),
    ],
    ids=["linear", "gray-mlp", "keypoints"],
)
def test_torchvision_export_loads_strictly_and_agrees(tmp_path, create, suffix):
    torch = pytest.importorskip("torch")
    from torch_reference import torchvision_resnet

    model = models.create("resnet18", **create)
    variables = randomised(models.init(model, 0, image_size=SIZE), seed=1)
    path = export.export(
        "torchvision", model, variables, tmp_path / f"model{suffix}", image_size=SIZE, metadata={"ignored": True}
    )

    resnet18 = lambda num_classes: torchvision_resnet("resnet18", num_classes)  # noqa: E731
    fake_torchvision = types.SimpleNamespace(models=types.SimpleNamespace(resnet18=resnet18))
    namespace = {"torch": torch, "torchvision": fake_torchvision}
    exec(export.torchvision_recipe(model), namespace)
    net = namespace["model"].eval()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, weights_only=True)
    net.load_state_dict(state, strict=True)

    images = uint8_images(2, model.in_channels, seed=3)
    x = np.array(models.normalize(images, model.in_channels))  # writable: torch.from_numpy wants one
    with torch.no_grad():
        got = net(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    want = reference(model, variables, images).reshape(got.shape)
    assert relative_error(got, want) <= 1e-4  # torch vs XLA convolutions: ~5e-6 seen here


def test_safetensors_round_trip_is_bit_exact(tmp_path):
    model = models.create("resnet18", num_outputs=3, head="mlp", hidden=16)
    variables = randomised(models.init(model, 0, image_size=SIZE))
    path = export.export("safetensors", model, variables, tmp_path / "vars.safetensors")
    back = export.load_safetensors_variables(path)
    assert "params/layer1_0/conv1/kernel" in safetensors.numpy.load_file(str(path))
    assert jax.tree.structure(back) == jax.tree.structure(jax.tree.map(np.asarray, variables))
    for want, got in zip(jax.tree.leaves(variables), jax.tree.leaves(back)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_a_write_failing_midway_leaves_no_file(tmp_path):
    target = tmp_path / "model.hlo"

    def dies_after_first_chunk():
        yield b"x" * 1000
        raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        files.write_chunks(target, dies_after_first_chunk())
    assert list(tmp_path.iterdir()) == []


def test_a_failed_reexport_keeps_the_previous_file(tmp_path, monkeypatch):
    model = models.create("resnet18", num_outputs=3)
    variables = models.init(model, 0, image_size=SIZE)
    path = export.export_safetensors(variables, tmp_path / "vars.safetensors")
    before = path.read_bytes()

    def half_written(tensors, filename, *args, **kwargs):
        with open(filename, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", half_written)
    with pytest.raises(OSError, match="disk full"):
        export.export_safetensors(randomised(variables), path)
    assert path.read_bytes() == before and files.check_checksum(path)  # the old file and its checksum agree
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vars.safetensors", "vars.safetensors.sha256"]


def test_unknown_format_and_option_are_user_errors(tmp_path):
    model = models.create("resnet18", num_outputs=3)
    with pytest.raises(UserError, match=r"unknown export format 'tflite'.*stablehlo, torchvision, safetensors, onnx"):
        export.export("tflite", model, {}, tmp_path / "m.tflite")
    with pytest.raises(UserError, match=r"unknown export option.*'imagesize'"):
        export.export("stablehlo", model, {}, tmp_path / "m.hlo", imagesize=32)
    assert list(tmp_path.iterdir()) == []
