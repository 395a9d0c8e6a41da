"""The one mixed-precision switch: `model.dtype` = "auto" | "float32" | "bfloat16".

bfloat16 is the compute dtype only. Parameters, optimizer state and BatchNorm statistics stay
float32 (the model declares `param_dtype=float32`), BatchNorm reduces in float32, and the model
casts its outputs to float32 before the loss. "auto" takes bfloat16 where it is fast (GPU, TPU) and
float32 on CPU, where bfloat16 convolutions are emulated and slower.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxres.errors import ConfigError

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def resolve_dtype(name: str = "auto", backend: str | None = None) -> jnp.dtype:
    """The compute dtype for config value `name` on `backend` (default: JAX's default backend)."""
    if name == "auto":
        backend = backend or jax.default_backend()
        return jnp.dtype(jnp.bfloat16 if backend in ("gpu", "cuda", "rocm", "tpu") else jnp.float32)
    if name not in DTYPES:
        raise ConfigError(f"model.dtype {name!r} is not one of {['auto', *DTYPES]}")
    return jnp.dtype(DTYPES[name])
