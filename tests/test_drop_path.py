"""`model.drop_path` (stochastic depth): whole residual branches dropped per sample in training only."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxres import models
from jaxres.models.blocks import drop_path
from jaxres.models.resnet import STAGES, drop_path_rates


class _Branch(nn.Module):
    rate: float

    @nn.compact
    def __call__(self, x, deterministic: bool):
        return drop_path(self, x, self.rate, deterministic)


def test_rates_grow_linearly_from_zero_at_the_first_block_to_the_rate_at_the_last():
    assert drop_path_rates(0.2, 5) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])
    assert drop_path_rates(0.2, 1) == [0.0]


def test_a_dropped_sample_loses_its_whole_branch_and_a_kept_one_is_rescaled():
    x = jnp.ones((4000, 2, 2, 3))
    y = np.asarray(_Branch(0.25).apply({}, x, False, rngs={"dropout": jax.random.key(0)}))
    per_sample = y.reshape(len(y), -1)
    assert (per_sample == per_sample[:, :1]).all()  # all or nothing within a sample
    kept = per_sample[per_sample != 0]
    np.testing.assert_allclose(kept, 1 / 0.75, rtol=1e-6)
    assert abs((per_sample[:, 0] == 0).mean() - 0.25) < 0.03
    assert abs(per_sample.mean() - 1.0) < 0.04  # the expectation is unchanged
    assert (np.asarray(_Branch(0.25).apply({}, x, True)) == 1).all()  # evaluation: the whole branch


@pytest.fixture(scope="module")
def nets():
    plain = models.create("resnet18", num_outputs=3)
    dropping = models.create("resnet18", num_outputs=3, drop_path=0.5)
    variables = models.init(plain, 0, image_size=32)
    x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
    return plain, dropping, variables, x


def _train(model, variables, x, key, frozen=()):
    out, _ = model.apply(variables, x, train=True, frozen=frozen, mutable=["batch_stats"],
                         rngs={"dropout": jax.random.key(key)})
    return np.asarray(out)


def test_evaluation_and_the_parameters_are_those_of_the_network_without_it(nets):
    plain, dropping, variables, x = nets
    assert jax.tree.structure(models.init(dropping, 0, image_size=32)) == jax.tree.structure(variables)
    np.testing.assert_array_equal(np.asarray(dropping.apply(variables, x)), np.asarray(plain.apply(variables, x)))


def test_training_draws_from_the_step_key_and_frozen_stages_never_drop(nets):
    plain, dropping, variables, x = nets
    assert not np.allclose(_train(dropping, variables, x, 0), _train(dropping, variables, x, 1))
    np.testing.assert_array_equal(_train(dropping, variables, x, 0), _train(dropping, variables, x, 0))
    np.testing.assert_array_equal(_train(plain, variables, x, 0), _train(plain, variables, x, 1))
    frozen = STAGES + ("head",)
    np.testing.assert_array_equal(_train(dropping, variables, x, 0, frozen), _train(plain, variables, x, 1, frozen))


def test_the_config_key_is_range_checked():
    from jaxres.config.checks import check_config
    from jaxres.errors import ConfigError

    with pytest.raises(ConfigError, match="model.drop_path"):
        check_config({"model": {"drop_path": 1.5}}, required=())
