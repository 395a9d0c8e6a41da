"""Shared test setup.

Eight fake CPU devices so the data-parallel tests can shard, and JAX's persistent compilation cache
so a second test run (and the CLI tests' subprocesses) skip XLA compilation.
"""

import os
import pathlib

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
_CACHE = pathlib.Path(__file__).resolve().parent.parent / ".jax_cache"
os.environ.setdefault("JAXRES_COMPILATION_CACHE", str(_CACHE))

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["JAXRES_COMPILATION_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
if jax.default_backend() != "cpu":
    # On a GPU, float32 matmuls and convolutions default to TF32 (10 mantissa bits): the parity tests
    # compare against torch's float32 and float64 on CPU, so they ask for true float32 (DESIGN.md).
    jax.config.update("jax_default_matmul_precision", "highest")

SHARED_DATA = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """The real sample data sets beside the repository (`../shared/data`); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (only present beside the project checkout)")
    return SHARED_DATA
