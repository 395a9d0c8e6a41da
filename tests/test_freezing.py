"""Staged unfreezing on a real ResNet-18: frozen stages stay bit-identical, their BatchNorm
statistics stay put, thawing resets nothing else, and XLA drops the frozen prefix's backward pass."""

import jax
import numpy as np
import pytest

import train_helpers as H
from jaxres.train import state as state_lib
from jaxres.train import steps

SPE, EPOCHS, BATCH = 3, 2, 8


def group_items(tree, groups):
    return {k: v for k, v in tree.items() if H.optim.group_of(k) in groups}


@pytest.fixture(scope="module")
def trajectory():
    """Host snapshots of the state: initial, after epoch 0 (backbone frozen), after one step of
    epoch 1 (layer4 thawed)."""
    _, variables = H.model_and_variables()
    opt = H.optimizer("staged", SPE, EPOCHS)
    step = H.train_step("staged", SPE, EPOCHS)
    mesh = H.mesh()
    state = state_lib.create(variables, opt.tx, 0, mesh)
    batches = H.batch_source(H.dataset(24), BATCH, mesh)
    snapshots, metrics = [jax.device_get(state)], steps.empty_metrics()
    for epoch, count in ((0, SPE), (1, 1)):
        for _, batch in zip(range(count), batches(epoch, 0)):
            state, metrics = step(state, batch, metrics, opt.frozen_at_epoch(epoch))
        snapshots.append(jax.device_get(state))
    return snapshots, jax.device_get(metrics)


def test_frozen_backbone_is_bit_identical_and_its_statistics_do_not_move(trajectory):
    (start, after_frozen, _), metrics = trajectory
    assert int(metrics["steps"]) == SPE + 1 and int(metrics["nonfinite_step"]) == -1
    backbone = H.BACKBONE
    assert H.tree_equal(group_items(after_frozen.params, backbone), group_items(start.params, backbone))
    assert H.tree_equal(after_frozen.batch_stats, start.batch_stats)  # every BatchNorm is in the backbone
    assert not H.tree_equal(after_frozen.params["fc"], start.params["fc"])


def test_thawed_stage_trains_and_the_rest_stays(trajectory):
    (start, after_frozen, after_thaw), _ = trajectory
    still = ("stem", "layer1", "layer2", "layer3")
    assert H.tree_equal(group_items(after_thaw.params, still), group_items(start.params, still))
    assert H.tree_equal(group_items(after_thaw.batch_stats, still), group_items(start.batch_stats, still))
    assert not H.tree_equal(group_items(after_thaw.params, ["layer4"]), group_items(start.params, ["layer4"]))
    assert not H.tree_equal(group_items(after_thaw.batch_stats, ["layer4"]), group_items(start.batch_stats, ["layer4"]))


def test_optimizer_state_keeps_structure_and_moments(trajectory):
    (start, after_frozen, after_thaw), _ = trajectory
    structure = jax.tree.structure(start.opt_state)
    assert jax.tree.structure(after_frozen.opt_state) == structure == jax.tree.structure(after_thaw.opt_state)
    gates = lambda state: state.opt_state.inner_states  # noqa: E731
    # SGD-momentum trace of the head: built during epoch 0, carried on (not re-initialised) at the thaw.
    head_trace = lambda state: gates(state)["head"].inner_state.inner[1].trace["fc"]["kernel"]  # noqa: E731
    assert np.any(head_trace(after_frozen) != 0) and int(gates(after_thaw)["head"].inner_state.count) == SPE + 1
    l4_trace = lambda state: jax.tree.leaves(gates(state)["layer4"].inner_state.inner[1].trace)  # noqa: E731
    assert all(np.all(t == 0) for t in l4_trace(after_frozen)) and any(np.any(t != 0) for t in l4_trace(after_thaw))
    l3_trace = jax.tree.leaves(gates(after_thaw)["layer3"].inner_state.inner[1].trace)
    assert all(np.all(t == 0) for t in l3_trace)  # weight decay never reached a frozen stage


def flops(lowered) -> float:
    """FLOPs of the program JAX emits, before XLA: device-independent (XLA:GPU's compiled count
    leaves out the convolutions it hands to cuDNN), and what stop_gradient must already have pruned."""
    analysis = lowered.cost_analysis()
    if analysis is None:  # XLA:GPU counts nothing before compiling (jax 0.11.2 on an H100)
        pytest.skip("this backend gives no FLOP count for a lowered program")
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis["flops"])


def test_frozen_prefix_has_no_backward_pass():
    """A frozen backbone costs its forward pass only: well under half the full step's FLOPs."""
    _, variables = H.model_and_variables()
    opt = H.optimizer("plain", 1, 1)
    step = H.train_step("plain", 1, 1)
    state = state_lib.create(variables, opt.tx, 0, H.mesh())
    batch = H.batch_source(H.dataset(8), BATCH, H.mesh())(0, 0).__next__()
    metrics = steps.empty_metrics()
    full = flops(step.lower(state, batch, metrics, ()))
    frozen = flops(step.lower(state, batch, metrics, H.BACKBONE))
    print(f"\nresnet18 {H.IMAGE}x{H.IMAGE} batch {BATCH}: full step {full / 1e9:.3f} GFLOP, "
          f"frozen backbone {frozen / 1e9:.3f} GFLOP ({frozen / full:.2f})")
    assert frozen < 0.45 * full
