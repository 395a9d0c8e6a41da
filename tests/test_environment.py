"""The suite is hermetic: the caller's environment, caches and working folder are not its inputs."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import jax

REPO = pathlib.Path(__file__).resolve().parent.parent


def test_the_run_sees_its_own_environment(tmp_path):
    root = pathlib.Path(os.environ["JAXRES_CACHE"]).parent
    assert root.name.startswith("jaxres-tests-") and root != REPO
    assert pathlib.Path(os.environ["HOME"]).parent == root and pathlib.Path(os.environ["HOME"]).name.startswith("home")
    assert pathlib.Path(os.environ["JAXRES_COMPILATION_CACHE"]) == root / "xla"
    assert os.environ["XLA_FLAGS"].split()[0] == "--xla_force_host_platform_device_count=1"
    assert jax.default_backend() == "cpu" and jax.device_count() == 1
    assert pathlib.Path.cwd() == tmp_path  # every test in a folder of its own
    assert not (REPO / ".jax_cache").exists()


def test_odd_variables_and_another_folder_change_nothing(tmp_path):
    """The same checks pass when the caller sets the project's variables to odd values and runs
    pytest from a folder outside the checkout."""
    odd = {"JAXRES_CACHE": str(tmp_path / "a-file"), "JAXRES_COMPILATION_CACHE": "/proc/none",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=3", "JAX_PLATFORMS": "tpu",
           "XDG_CACHE_HOME": "/dev/null", "JAXRES_WEIGHTS_BASE_URL": "http://127.0.0.1:9/",
           "JAX_ENABLE_X64": "1", "SLURM_NTASKS": "4"}
    (tmp_path / "a-file").write_text("not a folder")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                           f"{__file__}::test_the_run_sees_its_own_environment"],
                          cwd=tmp_path, env={**os.environ, **odd}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
