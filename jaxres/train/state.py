"""The training state: one pytree that goes into a step and comes out of it.

Everything a resumed run needs to continue bit-exactly lives here (the data position is saved
beside it by the checkpoint). The RNG is kept as raw `uint32` key data so that orbax saves it like
any other array; per-step keys are derived with `fold_in(rng, step)`, so the key never has to be
split and written back, and step k draws the same dropout mask whether or not the run was resumed.
"""

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

    def variables(self) -> dict:
        """The model's variables, as `model.apply` takes them."""
        return {"params": self.params, "batch_stats": self.batch_stats}

    def step_key(self, name: str = "dropout") -> jax.Array:
        """A PRNG key for this step and purpose; the same on a resumed run."""
        key = jax.random.wrap_key_data(self.rng)
        return jax.random.fold_in(jax.random.fold_in(key, self.step), zlib.crc32(name.encode()) & 0x7FFFFFFF)


def _build(variables: dict, tx: optax.GradientTransformation, seed: int) -> TrainState:
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        rng=jax.random.key_data(jax.random.key(seed)),
    )


def create(variables: dict, tx: optax.GradientTransformation, seed: int = 0, mesh: Mesh | None = None) -> TrainState:
    """A fresh state from `{"params", "batch_stats"}` (initialised or pretrained, host or device).

    With a mesh, every leaf is replicated over it; the optimizer state is built inside `jit` with
    replicated outputs, which also works when the mesh spans several processes.
    """
    if mesh is None:
        return jax.jit(_build, static_argnums=(1, 2))(variables, tx, seed)
    variables = parallel.replicate(dict(variables), mesh)
    build = jax.jit(_build, static_argnums=(1, 2), out_shardings=parallel.replicated(mesh))
    return build(variables, tx, seed)


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
