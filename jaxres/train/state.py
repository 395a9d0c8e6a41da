"""The training state, one pytree holding all a bit-exact resume needs: the RNG as raw `uint32` key data
(step keys are `fold_in(rng, step)`) and `ema`, the variables' average evaluation uses."""

from __future__ import annotations

import zlib
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from jaxres.train import parallel


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: optimizer steps taken
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array  # uint32 key data
    ema: Any = None  # {"params", "batch_stats"} averaged over steps, or None

    def variables(self) -> dict:
        """The variables to evaluate, as `model.apply` takes them: the EMA when there is one."""
        return self.ema if self.ema is not None else self.live_variables()

    def live_variables(self) -> dict:
        """The variables being trained (what the train step differentiates)."""
        return {"params": self.params, "batch_stats": self.batch_stats}

    def step_key(self, name: str = "dropout") -> jax.Array:
        """A PRNG key for this step and purpose; the same on a resumed run."""
        key = jax.random.wrap_key_data(self.rng)
        return jax.random.fold_in(jax.random.fold_in(key, self.step), zlib.crc32(name.encode()) & 0x7FFFFFFF)


def _build(variables: dict, tx: optax.GradientTransformation, seed: int, ema: bool = False) -> TrainState:
    params = variables["params"]
    batch_stats = variables.get("batch_stats", {})
    average = jax.tree.map(jnp.copy, {"params": params, "batch_stats": batch_stats}) if ema else None
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=batch_stats, opt_state=tx.init(params),
                      rng=jax.random.key_data(jax.random.key(seed)), ema=average)


def create(variables: dict, tx: optax.GradientTransformation, seed: int = 0, mesh: Mesh | None = None,
           ema: bool = False) -> TrainState:
    """A fresh state from `{"params", "batch_stats"}` (its `ema` a copy of them), replicated over `mesh` when
    given; the optimizer state is built inside `jit`, so a multi-process mesh works too."""
    if mesh is not None:
        variables = parallel.replicate(dict(variables), mesh)
    shardings = {} if mesh is None else {"out_shardings": parallel.replicated(mesh)}
    return jax.jit(_build, static_argnums=(1, 2, 3), **shardings)(variables, tx, seed, ema)


def abstract(state: TrainState) -> TrainState:
    """Shapes, dtypes and shardings of `state`, without data: the target a checkpoint restores into."""

    def describe(leaf):
        sharding = getattr(leaf, "sharding", None)
        return jax.ShapeDtypeStruct(jnp.shape(leaf), jnp.result_type(leaf), sharding=sharding)

    return jax.tree.map(describe, state)


@jax.jit
def all_finite(tree: Any) -> jax.Array:
    """One boolean: every floating leaf of `tree` is finite (computed on device, read once)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)
