"""JAX's persistent compilation cache, on by default.

A ResNet-50 train step takes about a minute to compile on a small CPU and tens of seconds on a GPU;
the cache turns the second run of the same program (a resumed run, `eval` after `train`, the test
suite) into a disk read.
"""

from __future__ import annotations

import os
import pathlib

import jax

from jaxres.platform import cache_paths

ENV_VAR = "JAXRES_COMPILATION_CACHE"


def default_cache_dir() -> pathlib.Path:
    """`$JAXRES_COMPILATION_CACHE`, else `xla/` under jaxres's cache root (`jaxres.platform.cache_paths`)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return pathlib.Path(configured).expanduser().resolve()
    return (cache_paths.root() / "xla").resolve()


def enable_compilation_cache(dir: str | os.PathLike | None = None,  # noqa: A002
                             min_compile_secs: float = 1.0) -> pathlib.Path:
    """Point JAX's persistent cache at `dir` (default: `default_cache_dir()`) and return it.

    Only programs that took at least `min_compile_secs` to compile are written: caching every tiny
    helper would cost more disk reads than it saves.
    """
    path = pathlib.Path(dir).expanduser().resolve() if dir is not None else default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_secs))
    return path
