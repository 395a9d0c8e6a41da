"""jaxres ResNets against torchvision's own ResNet code: same weights, same numbers.

Random weights with randomised BatchNorm statistics (identity BatchNorms would hide errors). The
tolerance is relative to the output's magnitude, and jaxres's error against a float64 torch run must
be no worse than 3× torch float32's own error against it.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxres import models, weights

from torch_reference import randomise_batchnorm, torch, torchvision_resnet

BATCH = 2


@functools.lru_cache(maxsize=None)
def torch_model(arch: str):
    torch.manual_seed({"resnet18": 0, "resnet50": 1}[arch])
    model = torchvision_resnet(arch)
    randomise_batchnorm(model, torch.Generator().manual_seed(7))
    return model.eval()


@functools.lru_cache(maxsize=None)
def jax_pair(arch: str, in_channels: int = 3):
    model = models.create(arch, in_channels=in_channels)
    variables = weights.load_torchvision(torch_model(arch).state_dict(), model)
    forward = jax.jit(lambda v, x: model.apply(v, x, train=False, return_features=True))
    return model, variables, forward


def random_input(size: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((BATCH, channels, size, size)).astype(np.float32)


def torch_stages(model, x):
    """torchvision's forward, keeping each stage's output."""
    out = {}
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    for name in ("layer1", "layer2", "layer3", "layer4"):
        x = getattr(model, name)(x)
        out[name] = x
    out["logits"] = model.fc(torch.flatten(model.avgpool(x), 1))
    return out


def to_nhwc(x_nchw: np.ndarray) -> jnp.ndarray:
    return jnp.asarray(np.transpose(x_nchw, (0, 2, 3, 1)))


def assert_parity(jax_out, ref32, ref64, what, device_ref32=None):
    """Within 1e-5 of torch float32, and no further from float64 than 3× torch float32's own error:
    on CPU, or on the GPU JAX runs on (`device_ref32`, where cuDNN's algorithms round differently)."""
    jax_out, ref32, ref64 = (np.asarray(a, np.float64) for a in (jax_out, ref32, ref64))
    scale = np.abs(ref32).max()
    err_vs_32 = np.abs(jax_out - ref32).max()
    assert err_vs_32 <= 1e-5 * scale, f"{what}: max|Δ| {err_vs_32:.3g} > 1e-5 × {scale:.3g}"
    own_err = max(np.abs(ref - ref64).max() for ref in (ref32, device_ref32) if ref is not None)
    our_err = np.abs(jax_out - ref64).max()
    assert our_err <= 3 * own_err + 1e-12 * scale, f"{what}: error vs float64 {our_err:.3g} > 3 × torch's {own_err:.3g}"


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
@pytest.mark.parametrize("size", [224, 97])
def test_eval_logits_and_every_stage_match_torchvision(arch, size):
    x = random_input(size)
    tmodel = torch_model(arch)
    with torch.no_grad():
        ref32 = {k: v.numpy() for k, v in torch_stages(tmodel, torch.from_numpy(x)).items()}
        ref64 = {k: v.numpy() for k, v in torch_stages(tmodel.double(), torch.from_numpy(x).double()).items()}
    tmodel.float()
    on_gpu = gpu_stages(tmodel, x)
    _, variables, forward = jax_pair(arch)
    logits, features = forward(variables, to_nhwc(x))
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        nchw = np.transpose(np.asarray(features[stage]), (0, 3, 1, 2))
        assert_parity(nchw, ref32[stage], ref64[stage], f"{arch}@{size} {stage}", on_gpu.get(stage))
    assert_parity(logits, ref32["logits"], ref64["logits"], f"{arch}@{size} logits", on_gpu.get("logits"))


def gpu_stages(tmodel, x) -> dict:
    """torch float32 on the GPU (TF32 off) when JAX runs on one and torch sees it; else {}.

    On an H100, jaxres's resnet18@224 logits were 3.2× torch-CPU's float32 error from float64 (within
    1e-5 of torch all the same): cuDNN's convolution algorithms round differently from CPU kernels."""
    if jax.default_backend() != "gpu" or not torch.cuda.is_available():
        return {}
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad():
            out = torch_stages(tmodel.cuda(), torch.from_numpy(x).cuda())
            return {k: v.cpu().numpy() for k, v in out.items()}
    finally:
        tmodel.cpu()
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_one_channel_model_matches_the_same_adaptation_in_torch():
    arch = "resnet18"
    tmodel = torchvision_resnet(arch)
    tmodel.load_state_dict(torch_model(arch).state_dict())
    summed = tmodel.conv1.weight.detach().sum(dim=1, keepdim=True)
    tmodel.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    with torch.no_grad():
        tmodel.conv1.weight.copy_(summed)
    tmodel.eval()
    model, variables, forward = jax_pair(arch, in_channels=1)
    assert variables["params"]["conv1"]["kernel"].shape == (7, 7, 1, 64)
    x = random_input(64, channels=1, seed=3)
    with torch.no_grad():
        ref32 = tmodel(torch.from_numpy(x)).numpy()
        ref64 = tmodel.double()(torch.from_numpy(x).double()).numpy()
    logits, _ = forward(variables, to_nhwc(x))
    assert_parity(logits, ref32, ref64, "1-channel resnet18")


def test_train_mode_forward_and_running_statistics_after_one_step():
    arch = "resnet18"
    tmodel = torchvision_resnet(arch)
    tmodel.load_state_dict(torch_model(arch).state_dict())
    tmodel.train()
    model, variables, _ = jax_pair(arch)
    x = random_input(64, seed=5)
    with torch.no_grad():
        ref = tmodel(torch.from_numpy(x)).numpy()
    step = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))
    logits, updated = step(variables, to_nhwc(x))
    scale = np.abs(ref).max()
    np.testing.assert_allclose(np.asarray(logits), ref, atol=2e-5 * scale, rtol=0)
    got = weights.to_torchvision({"params": variables["params"], "batch_stats": updated["batch_stats"]})
    for key, value in tmodel.state_dict().items():
        if key.endswith(("running_mean", "running_var")):
            np.testing.assert_allclose(got[key], value.numpy(), rtol=1e-4, atol=1e-6, err_msg=key)


def test_round_trip_flax_torch_flax_is_bit_exact_and_torch_loads_strictly(tmp_path):
    arch = "resnet18"
    model, variables, _ = jax_pair(arch)
    for suffix in (".pth", ".safetensors", ".npz"):
        path = weights.save_torchvision(variables, model, tmp_path / f"model{suffix}")
        back = weights.load_torchvision(path, model)
        same = jax.tree.map(lambda a, b: bool(np.array_equal(np.asarray(a), np.asarray(b))), variables, back)
        assert all(jax.tree.leaves(same)), suffix
    tmodel = torchvision_resnet(arch)
    tmodel.load_state_dict(torch.load(tmp_path / "model.pth", weights_only=True), strict=True)
    tmodel.eval()
    x = random_input(64, seed=9)
    with torch.no_grad():
        ref = tmodel(torch.from_numpy(x)).numpy()
    ours = model.apply(variables, to_nhwc(x))
    np.testing.assert_allclose(np.asarray(ours), ref, atol=1e-5 * np.abs(ref).max(), rtol=0)


def test_bfloat16_compute_stays_within_bfloat16_tolerance():
    arch = "resnet18"
    _, variables, forward32 = jax_pair(arch)
    model16 = models.create(arch, dtype=jnp.bfloat16)
    x = to_nhwc(random_input(64, seed=11))
    ref, _ = forward32(variables, x)
    ours = jax.jit(lambda v, x: model16.apply(v, x))(variables, x)
    assert ours.dtype == jnp.float32
    rel = np.abs(np.asarray(ours) - np.asarray(ref)).max() / np.abs(np.asarray(ref)).max()
    assert rel < 5e-2, rel  # bf16 has 8 mantissa bits; 18 layers of rounding stay within a few percent
    assert jax.tree.leaves(variables["params"])[0].dtype == jnp.float32


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_zero_init_residual_zeroes_the_batchnorms_torchvision_zeroes(arch):
    """`model.zero_init_residual` starts the same BatchNorm scales at 0 as torchvision's keyword (each
    block's last one), the others at 1, and the model then computes its shortcuts only."""
    tmodel = torchvision_resnet(arch, num_classes=10, zero_init_residual=True)
    expected = {k: float(v.abs().max()) for k, v in tmodel.state_dict().items() if "bn" in k or "downsample.1" in k}
    model = models.create(arch, num_outputs=10, zero_init_residual=True)
    x = jnp.zeros((1, 32, 32, 3))
    variables = model.init(jax.random.key(0), x)  # eager: a compile would cost more than the init
    got = weights.to_torchvision(variables)
    for key, peak in expected.items():
        if key.endswith(".weight"):
            assert float(np.abs(got[key]).max()) == peak, key  # 0 exactly where torch is 0, else 1
    assert sum(1 for k, v in expected.items() if k.endswith(".weight") and v == 0) == sum(models.ARCHS[arch][1])
    plain = jax.eval_shape(lambda: models.create(arch, num_outputs=10).init(jax.random.key(0), x))
    assert jax.tree.structure(plain) == jax.tree.structure(variables)  # same tree: weights load either way
