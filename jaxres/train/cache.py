"""JAX's persistent compilation cache, on by default, so a second run reads its compiled steps from disk."""

from __future__ import annotations

import os
import pathlib

import jax

from jaxres.platform import cache_paths

ENV_VAR = "JAXRES_COMPILATION_CACHE"


def default_cache_dir() -> pathlib.Path:
    """`$JAXRES_COMPILATION_CACHE`, else `xla/` under jaxres's cache root (`jaxres.platform.cache_paths`)."""
    return pathlib.Path(os.environ.get(ENV_VAR) or cache_paths.root() / "xla").expanduser().resolve()


def enable_compilation_cache(dir: str | os.PathLike | None = None,  # noqa: A002
                             min_compile_secs: float = 1.0) -> pathlib.Path:
    """Point JAX's persistent cache at `dir` (default `default_cache_dir()`) and return it; only programs that
    took `min_compile_secs` or more are written."""
    path = pathlib.Path(dir).expanduser().resolve() if dir is not None else default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_secs))
    return path
