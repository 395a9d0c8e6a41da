"""`model.dtype` = "auto" | "float32" | "bfloat16": bfloat16 computes while parameters, optimizer state,
BatchNorm statistics and the loss stay float32; "auto" is bfloat16 on GPU and TPU, float32 on CPU."""

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
