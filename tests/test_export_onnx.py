"""`export --format onnx`: onnxruntime's outputs agree with JAX's, for a stock head, a 1-channel
keypoint model and an MLP head on a bottleneck backbone; metadata and the missing-extra message."""

import jax
import numpy as np
import pytest

from jaxres import models
from jaxres.export import artifacts as export

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("torch")
SIZE = 32


def _randomised(variables, seed=0):
    """Random BatchNorm statistics, so agreement cannot come from identity BatchNorms."""
    rng = np.random.default_rng(seed)
    stats = jax.tree.map(lambda x: np.asarray(x) + rng.uniform(0.0, 0.5, np.shape(x)).astype(np.float32),
                         jax.device_get(variables["batch_stats"]))
    return {**variables, "batch_stats": stats}


@pytest.mark.parametrize("arch, options", [
    ("resnet18", {"num_outputs": 10}),
    ("resnet18", {"num_outputs": 10, "in_channels": 1, "head": "keypoints", "num_keypoints": 5}),
    ("resnet50", {"num_outputs": 6, "head": "mlp", "hidden": 32, "dropout": 0.5}),
])
def test_onnx_agrees_with_jax(tmp_path, arch, options):
    model = models.create(arch, **options)
    variables = _randomised(models.init(model, 0, image_size=SIZE))
    channels = model.in_channels
    path = export.export("onnx", model, variables, tmp_path / "model.onnx", image_size=SIZE, channels=channels,
                         metadata={"task": "test", "classes": ["a", "b"]})
    images = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, channels), dtype=np.uint8)
    expected = np.asarray(model.apply(variables, models.normalize(images, channels), train=False))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    for batch in (images, images[:1]):  # the batch dimension is symbolic
        (got,) = session.run(None, {"images": batch})
        want = expected[: len(batch)]
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-4 * float(np.abs(want).max()), rtol=0)
    props = {p.key: p.value for p in __import__("onnx").load(str(path)).metadata_props}
    assert props == {"task": "test", "classes": '["a", "b"]'}


def test_onnx_without_the_extra_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    from jaxres.errors import UserError

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx":
            raise ImportError("No module named 'onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(UserError, match=r"pip install 'jaxres\[onnx\]'"):
        export.export("onnx", models.create("resnet18", num_outputs=2), {}, tmp_path / "m.onnx", image_size=SIZE)
    assert not (tmp_path / "m.onnx").exists()
