"""Optimizers, schedules, stage gates and their config checks, on a tiny ResNet-shaped tree."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxres.errors import ConfigError
from jaxres.train import optim, precision
from jaxres.train.schedules import make_schedule


def toy_params():
    """A few leaves named like the ResNet's, one group each (conv/dense kernels, BN, bias)."""
    rng = np.random.default_rng(0)

    def arr(*shape):
        return jnp.asarray(rng.normal(size=shape), jnp.float32)

    block = {"conv1": {"kernel": arr(3, 3, 2, 2)}, "bn1": {"scale": arr(2), "bias": arr(2)}}
    return {"conv1": {"kernel": arr(3, 3, 1, 2)}, "bn1": {"scale": arr(2), "bias": arr(2)},
            "layer1_0": block, "layer4_1": jax.tree.map(lambda x: x + 1, block),
            "fc": {"kernel": arr(2, 3), "bias": arr(3)}}


def toy_grads(step):
    return jax.tree.map(lambda p: jnp.sin(p * (step + 1)), toy_params())


def run(tx, steps, params=None):
    """`steps` updates with deterministic gradients; the parameter trajectory and final state."""
    params = toy_params() if params is None else params
    state, history = tx.init(params), []
    for step in range(steps):
        updates, state = tx.update(toy_grads(step), state, params)
        params = optax.apply_updates(params, updates)
        history.append(params)
    return history, state


def assert_trees_close(a, b, atol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=1e-6)


def test_labels_and_decay_mask():
    params = toy_params()
    labels = optim.param_labels(params)
    assert labels["conv1"]["kernel"] == "stem" and labels["bn1"]["bias"] == "stem"
    assert labels["layer1_0"]["bn1"]["scale"] == "layer1" and labels["layer4_1"]["conv1"]["kernel"] == "layer4"
    assert labels["fc"]["kernel"] == "head" and optim.group_of("fc_hidden") == "head"
    mask = optim.decay_mask(params)
    assert mask["conv1"]["kernel"] and mask["fc"]["kernel"] and mask["layer4_1"]["conv1"]["kernel"]
    assert not mask["fc"]["bias"] and not mask["bn1"]["scale"] and not mask["layer1_0"]["bn1"]["bias"]


@pytest.mark.parametrize("name, reference", [
    ("sgd", lambda lr, wd, mask: optax.chain(optax.add_decayed_weights(wd, mask), optax.sgd(lr, 0.9, nesterov=False))),
    ("nesterov", lambda lr, wd, mask: optax.chain(optax.add_decayed_weights(wd, mask), optax.sgd(lr, 0.9, nesterov=True))),
    ("adam", lambda lr, wd, mask: optax.chain(optax.add_decayed_weights(wd, mask), optax.adam(lr))),
    ("adamw", lambda lr, wd, mask: optax.adamw(lr, weight_decay=wd, mask=mask)),
])
def test_rules_match_optax_references(name, reference):
    """Nothing frozen, one learning rate: the grouped optimizer is exactly the plain optax one."""
    config = {"name": "sgd" if name == "nesterov" else name, "lr": 0.1, "weight_decay": 0.01, "nesterov": name == "nesterov"}
    ours, _ = run(optim.make_optimizer(config, steps_per_epoch=4).tx, 5)
    ref, _ = run(reference(0.1, 0.01, optim.decay_mask), 5)
    assert_trees_close(ours[-1], ref[-1])


def test_sgd_is_torch_sgd():
    """torch.optim.SGD(momentum=0.9, nesterov=True, weight_decay=wd), written out for one leaf."""
    config = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}
    history, _ = run(optim.make_optimizer(config, 4).tx, 3)
    p, buf = np.asarray(toy_params()["fc"]["kernel"], np.float64), None
    for step in range(3):
        d_p = np.asarray(toy_grads(step)["fc"]["kernel"], np.float64) + 0.01 * p
        buf = d_p if buf is None else 0.9 * buf + d_p
        p = p - 0.1 * (d_p + 0.9 * buf)
    np.testing.assert_allclose(history[-1]["fc"]["kernel"], p, rtol=1e-5)


def test_gate_freezes_updates_and_state_until_the_stage_unfreezes():
    config = {"name": "adam", "lr": 0.1, "weight_decay": 0.1, "frozen": ["stem", "layer1", "layer4"],
              "unfreeze": {"layer4": 1}, "group_lr": {"layer4": 0.01}}
    opt = optim.make_optimizer(config, steps_per_epoch=2)
    history, state = run(opt.tx, 4)
    start = toy_params()
    for params in history:  # stem and layer1 never unfreeze: bit-identical, weight decay included
        assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params["conv1"]), jax.tree.leaves(start["conv1"])))
        assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params["layer1_0"]), jax.tree.leaves(start["layer1_0"])))
    assert np.array_equal(history[1]["layer4_1"]["conv1"]["kernel"], start["layer4_1"]["conv1"]["kernel"])
    assert not np.array_equal(history[2]["layer4_1"]["conv1"]["kernel"], start["layer4_1"]["conv1"]["kernel"])
    gates = state.inner_states
    assert int(gates["head"].inner_state.count) == 4 and int(gates["layer4"].inner_state.count) == 4
    adam_count = lambda group: int(gates[group].inner_state.inner[1].count)  # noqa: E731
    assert adam_count("head") == 4 and adam_count("layer4") == 2 and adam_count("stem") == 0
    assert opt.frozen_at_epoch(0) == ("stem", "layer1", "layer4") and opt.frozen_at_epoch(1) == ("stem", "layer1")


def test_unfreezing_resets_no_other_group_and_keeps_the_state_structure():
    """The head's trajectory is the same whether or not layer4 thaws next to it."""
    staged = {"name": "sgd", "lr": 0.1, "frozen": ["layer4"], "unfreeze": {"layer4": 1}}
    always = {"name": "sgd", "lr": 0.1, "frozen": ["layer4"]}
    tx_staged, tx_always = optim.make_optimizer(staged, 2).tx, optim.make_optimizer(always, 2).tx
    params = toy_params()
    assert jax.tree.structure(tx_staged.init(params)) == jax.tree.structure(tx_always.init(params))
    (h_staged, s_staged), (h_always, s_always) = run(tx_staged, 4), run(tx_always, 4)
    assert_trees_close(h_staged[-1]["fc"], h_always[-1]["fc"], atol=0)
    assert_trees_close(s_staged.inner_states["head"], s_always.inner_states["head"], atol=0)
    assert jax.tree.structure(s_staged) == jax.tree.structure(tx_staged.init(params))


def test_group_learning_rates_and_clipping():
    config = {"name": "sgd", "lr": 1.0, "momentum": 0.0, "group_lr": {"layer4": 0.5}, "clip_norm": 1e-3}
    tx, params, grads = optim.make_optimizer(config, 2).tx, toy_params(), toy_grads(0)
    updates, _ = tx.update(grads, tx.init(params), params)
    norm = math.sqrt(sum(float(jnp.sum(u ** 2)) for u in jax.tree.leaves(updates)))
    assert norm < 1e-3 + 1e-9  # clipped by global norm before the learning rates (at most 1.0)
    grad_norm = math.sqrt(sum(float(jnp.sum(g ** 2)) for g in jax.tree.leaves(grads)))
    scale = 1e-3 / grad_norm
    np.testing.assert_allclose(updates["fc"]["kernel"], -1.0 * scale * grads["fc"]["kernel"], rtol=1e-5)
    np.testing.assert_allclose(updates["layer4_1"]["conv1"]["kernel"], -0.5 * scale * grads["layer4_1"]["conv1"]["kernel"], rtol=1e-5)


def test_schedules_in_epochs():
    spe = 10
    assert float(make_schedule("constant", 0.1, spe, 5)(37)) == pytest.approx(0.1)
    step = make_schedule("step", 0.1, spe, 50, decay_epochs=[2, 4], decay_factor=0.1)
    assert [round(float(step(s)), 6) for s in (0, 19, 20, 39, 40)] == [0.1, 0.1, 0.01, 0.01, 0.001]
    cosine = make_schedule("cosine", 1.0, spe, 4)
    assert float(cosine(0)) == pytest.approx(1.0) and float(cosine(20)) == pytest.approx(0.5)
    assert float(cosine(40)) == pytest.approx(0.0, abs=1e-7) and float(cosine(99)) == pytest.approx(0.0, abs=1e-7)
    warm = make_schedule("warmup_cosine", 1.0, spe, 4, warmup_epochs=1)
    assert 0 < float(warm(0)) < 0.2 and float(warm(9)) == pytest.approx(1.0) and float(warm(10)) == pytest.approx(1.0)
    assert float(warm(25)) == pytest.approx(0.5)
    # ImageNet-Sketch: CosineAnnealingWarmRestarts(T_0=15 epochs), stepped per batch.
    restarts = make_schedule("cosine_restarts", 0.01, spe, 40, restart_epochs=15)
    torch_like = lambda s: 0.01 * 0.5 * (1 + math.cos(math.pi * (s % 150) / 150))  # noqa: E731
    for s in (0, 75, 149, 150, 151, 299, 300, 399):
        assert float(restarts(s)) == pytest.approx(torch_like(s), abs=1e-7)


@pytest.mark.parametrize("config, words", [
    ({"name": "rmsprop"}, "optim.name"),
    ({"lr": 0.1, "momentun": 0.9}, "momentun"),
    ({"frozen": ["layer5"]}, "layer5"),
    ({"unfreeze": {"layer4": 3}}, "optim.frozen"),
    ({"group_lr": {"backbone": 0.1}}, "backbone"),
    ({"schedule": "linear"}, "optim.schedule"),
    ({"schedule": "cosine_restarts"}, "restart_epochs"),
    ({"schedule": "warmup_cosine"}, "warmup_epochs"),
])
def test_config_errors_name_the_key(config, words):
    with pytest.raises(ConfigError, match=words):
        optim.make_optimizer(config, steps_per_epoch=10, epochs=5)


def test_cosine_needs_epochs():
    with pytest.raises(ConfigError, match="epochs"):
        optim.make_optimizer({"schedule": "cosine"}, steps_per_epoch=10)


def test_precision_switch():
    assert precision.resolve_dtype("auto", backend="cpu") == jnp.float32
    assert precision.resolve_dtype("auto", backend="gpu") == jnp.bfloat16
    assert precision.resolve_dtype("auto", backend="tpu") == jnp.bfloat16
    assert precision.resolve_dtype("bfloat16") == jnp.bfloat16
    with pytest.raises(ConfigError, match="model.dtype"):
        precision.resolve_dtype("float16")
