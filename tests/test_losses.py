"""Losses against values worked out by hand; torch's definitions cross-checked where torch is installed."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxres.errors import ConfigError
from jaxres.objectives import losses

PRED = np.array([[0.5, 2.0], [-3.0, 0.0]], np.float32)
ZERO = np.zeros((2, 2), np.float32)  # differences 0.5, 2, -3, 0


def test_mse_and_l1_by_hand():
    assert float(losses.mse(PRED, ZERO)) == pytest.approx((0.25 + 4 + 9 + 0) / 4)
    assert float(losses.l1(PRED, ZERO)) == pytest.approx((0.5 + 2 + 3 + 0) / 4)


def test_smooth_l1_by_hand():
    # beta 1: 0.5·0.25 | 2 − 0.5 | 3 − 0.5 | 0
    assert float(losses.smooth_l1(PRED, ZERO)) == pytest.approx((0.125 + 1.5 + 2.5) / 4)
    # beta 2: 0.5·0.25/2 | 2 is not < 2 → 2 − 1 | 3 − 1 | 0
    assert float(losses.smooth_l1(PRED, ZERO, beta=2.0)) == pytest.approx((0.0625 + 1 + 2) / 4)
    assert float(losses.smooth_l1(PRED, ZERO, beta=0.0)) == pytest.approx(5.5 / 4)  # plain L1


def test_wing_by_hand():
    pred = np.array([[1.0, 12.0]], np.float32)
    target = np.zeros_like(pred)
    # |x| = 1 < w: 10·ln(1 + 1/2) = 4.0546511; |x| = 12 ≥ w: 12 − C, C = 10 − 10·ln 6 = −7.9175947
    assert float(losses.wing(pred, target)) == pytest.approx((4.0546511 + 19.9175947) / 2, rel=1e-6)
    # continuous at |x| = w, and scaled parameters work on normalised coordinates
    w, eps = 0.05, 0.01
    below = float(losses.wing(np.float32([[w - 1e-6]]), np.float32([[0.0]]), w=w, epsilon=eps))
    at = float(losses.wing(np.float32([[w]]), np.float32([[0.0]]), w=w, epsilon=eps))
    assert below == pytest.approx(w * math.log(1 + w / eps), rel=1e-4)
    assert at == pytest.approx(below, rel=1e-4)


def test_cross_entropy_by_hand():
    logits = np.array([[0.0, math.log(3.0)]] * 2, np.float32)  # softmax = [1/4, 3/4]
    labels = np.array([1, 0])
    assert float(losses.softmax_cross_entropy(logits, labels)) == pytest.approx(
        (-math.log(0.75) + math.log(4.0)) / 2, rel=1e-6)
    # smoothing 0.1 over 2 classes: target [0.05, 0.95] for label 1
    smoothed = losses.softmax_cross_entropy(logits[:1], labels[:1], label_smoothing=0.1)
    assert float(smoothed) == pytest.approx(0.05 * math.log(4.0) - 0.95 * math.log(0.75), rel=1e-6)


def test_bf16_inputs_give_float32():
    pred = jnp.asarray(PRED, jnp.bfloat16)
    for fn in (losses.mse, losses.l1, losses.smooth_l1, losses.wing):
        out = fn(pred, jnp.zeros_like(pred))
        assert out.dtype == jnp.float32
        assert float(out) == pytest.approx(float(fn(PRED, ZERO)))  # PRED is exact in bf16
    ce = losses.softmax_cross_entropy(jnp.zeros((2, 3), jnp.bfloat16), jnp.array([0, 2]))
    assert ce.dtype == jnp.float32 and float(ce) == pytest.approx(math.log(3.0), rel=1e-6)


def test_get_binds_parameters_and_jits():
    loss = losses.get("wing", w=0.05, epsilon=0.01)
    assert float(jax.jit(loss)(PRED, ZERO)) == pytest.approx(float(losses.wing(PRED, ZERO, 0.05, 0.01)))
    assert losses.get("mse") is losses.mse
    smooth = losses.get("softmax_cross_entropy", label_smoothing=0.1)
    assert float(smooth(np.zeros((1, 4)), np.array([3]))) == pytest.approx(math.log(4.0), rel=1e-6)


def test_get_rejects_bad_configs():
    valid = "l1, mse, smooth_l1, softmax_cross_entropy, wing"
    with pytest.raises(ConfigError, match=rf"unknown loss 'huber'.*{valid}"):
        losses.get("huber")
    with pytest.raises(ConfigError, match="loss 'wing' takes no parameter beta; its parameters: w, epsilon"):
        losses.get("wing", beta=1.0)
    with pytest.raises(ConfigError, match="epsilon=0"):
        losses.get("wing", w=0.05, epsilon=0)
    with pytest.raises(ConfigError, match="label_smoothing"):
        losses.get("softmax_cross_entropy", label_smoothing=1.0)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"pred \(2, 2\), target \(2, 3\)"):
        losses.mse(PRED, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"logits \(N, C\) and labels \(N,\)"):
        losses.softmax_cross_entropy(np.zeros((2, 3)), np.zeros(3, int))


def test_matches_torch_definitions():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(8, 6)).astype(np.float32), rng.normal(size=(8, 6)).astype(np.float32)
    tp, tt = torch.from_numpy(pred), torch.from_numpy(target)
    for beta in (0.5, 1.0):
        expected = torch.nn.functional.smooth_l1_loss(tp, tt, beta=beta).item()
        assert float(losses.smooth_l1(pred, target, beta=beta)) == pytest.approx(expected, rel=1e-5)
    labels = rng.integers(0, 6, 8)
    expected = torch.nn.functional.cross_entropy(tp, torch.from_numpy(labels), label_smoothing=0.2).item()
    assert float(losses.softmax_cross_entropy(pred, labels, 0.2)) == pytest.approx(expected, rel=1e-5)


def test_giou_by_hand_and_against_the_iou_metric():
    from jaxres.metrics.boxes import iou

    target = np.float32([[0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.float32([[1, 1, 3, 3],  # IoU 1/7, hull 9, union 7: GIoU 1/7 − 2/9
                       [2, 0, 3, 1],  # disjoint: IoU 0, hull 3, union 2: GIoU −1/3
                       [0, 0, 1, 1]])  # identical: GIoU 1
    expected = ((1 - (1 / 7 - 2 / 9)) + (1 + 1 / 3) + 0) / 3
    assert float(losses.giou(pred, target, l1_weight=0.0)) == pytest.approx(expected, rel=1e-6)
    # the IoU inside the loss is the metric's IoU on random overlapping boxes
    rng = np.random.default_rng(0)
    lo = rng.uniform(0, 0.4, (64, 2))
    a = np.concatenate([lo, lo + rng.uniform(0.2, 0.6, (64, 2))], 1).astype(np.float32)
    b = (a + rng.uniform(-0.1, 0.1, a.shape)).astype(np.float32)
    hull = np.prod(np.maximum(a[:, 2:], b[:, 2:]) - np.minimum(a[:, :2], b[:, :2]), 1)
    areas = np.prod(a[:, 2:] - a[:, :2], 1) + np.prod(b[:, 2:] - b[:, :2], 1)
    union = areas / (1 + iou(a, b))  # inter = IoU·union and union = areas − inter
    reference = np.mean(1 - (iou(a, b) - (hull - union) / hull))
    assert float(losses.giou(a, b, l1_weight=0.0)) == pytest.approx(reference, rel=1e-5)
    # the L1 term is added with its weight; swapped corners are the same box
    assert float(losses.giou(a, b)) == pytest.approx(reference + 2.5 * np.abs(a - b).mean(), rel=1e-5)
    swapped = a[:, [2, 3, 0, 1]]
    assert float(losses.giou(swapped, b, l1_weight=0.0)) == pytest.approx(reference, rel=1e-5)


def test_giou_has_a_finite_gradient_for_a_collapsed_box():
    pred = jnp.float32([[0.5, 0.5, 0.5, 0.5]])  # zero area
    grad = jax.grad(lambda p: losses.giou(p, jnp.float32([[0.1, 0.1, 0.3, 0.3]])))(pred)
    assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.abs(grad).sum()) > 0


def test_a_loss_for_another_objective_kind_is_a_config_error():
    assert losses.for_kind("box", "giou", {"l1_weight": 1.0}) is not None
    with pytest.raises(ConfigError, match="'giou' is for box objectives; a keypoints objective takes .*wing"):
        losses.for_kind("keypoints", "giou", {})
    with pytest.raises(ConfigError, match="'softmax_cross_entropy' is for classification objectives"):
        losses.for_kind("box", "softmax_cross_entropy", {})
    with pytest.raises(ConfigError, match="l1_weight must be >= 0"):
        losses.get("giou", l1_weight=-1.0)
    with pytest.raises(ConfigError, match=r"takes no parameter beta.*loss_options=\{\}' takes its defaults"):
        losses.for_kind("box", "giou", {"beta": 0.05})  # the smooth L1 options a switch leaves behind
    with pytest.raises(ConfigError, match=r"unknown loss 'gioo'; valid losses: .*giou[^(]*$"):
        losses.for_kind("box", "gioo", {})
