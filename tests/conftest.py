"""Shared test setup: a hermetic environment, one CPU device and one compilation cache a run.

The suite must pass the same on any machine, whatever the caller's environment holds, so nothing
of it is an input: before JAX is imported, every variable that steers jaxres, JAX, XLA, TFDS, the
hub clients or a cluster launcher is removed, and HOME, XDG_CACHE_HOME, JAXRES_CACHE and the
compilation cache point into one fresh folder of this run (removed at exit). The platform is the
CPU unless `--platform` names another (the GPU check runs the parity tests with `--platform cuda`),
with one device unless `--devices` asks for more: tests/multi_device holds the tests that need
eight, and tests/test_multi_device.py runs them in a pytest process of their own. Subprocesses
inherit the same environment.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
MULTI_DEVICE = pathlib.Path(__file__).resolve().parent / "multi_device"
# The longest files, longest first (CPU seconds of each alone): xdist hands out whole files in
# collection order (pyproject: `--dist loadfile --no-loadscope-reorder`), so the two workers take
# these first and even out their ends on the many short files, instead of one worker starting a
# long file when the other has nothing left.
LONGEST_FIRST = ("test_tasks_cli.py", "test_crash_resume.py", "test_multi_device.py", "test_benchmarks.py",
                 "test_default_runs.py", "test_export.py", "test_head_init.py", "test_parity_torchvision.py",
                 "test_export_end_to_end.py", "test_workdir_safety.py")

# Variables that would change what jaxres, JAX or a data/hub library does. (PATH, locale and the
# Python interpreter's own settings stay; the locale is pinned to UTF-8 below.)
_CLEARED_PREFIXES = ("JAXRES_", "JAX_", "XLA_", "TF_", "TFDS_", "HF_", "HUGGINGFACE_", "TORCH_", "SLURM_",
                     "OMPI_", "PMI_", "PMIX_", "TPU_", "CUDA_VISIBLE", "MALLOC_ARENA", "CLOUDSDK_", "GOOGLE_")
_CLEARED = ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "PYTHONWARNINGS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _hermetic_environment(platform: str, devices: int, root: pathlib.Path | None, worker: str) -> pathlib.Path:
    """Clear the caller's variables and point every cache at `root` (a new folder when None); an
    xdist worker shares its controller's root and compilation cache but keeps its own data cache."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED:
            del os.environ[name]
    if root is None:
        root = pathlib.Path(tempfile.mkdtemp(prefix="jaxres-tests-")).resolve()
        atexit.register(shutil.rmtree, root, True)
    for folder in (f"home{worker}", f"cache{worker}", "xla"):
        (root / folder).mkdir(exist_ok=True)
    os.environ.update({
        "HOME": str(root / f"home{worker}"),  # ~/.cache/jaxres, ~/.cache/torch, ~/.cache/huggingface: the run's
        "XDG_CACHE_HOME": str(root / f"home{worker}" / ".cache"),
        "JAXRES_CACHE": str(root / f"cache{worker}"),  # synthetic sets and frames shared by the run's tests;
        "JAXRES_COMPILATION_CACHE": str(root / "xla"),  # a test that needs its own sets JAXRES_CACHE itself
        "JAX_PLATFORMS": platform,
        # LLVM's optimisation level 0 halves the CPU compile of a ResNet step (30 s -> 16 s of CPU for a
        # ResNet-18 at 32 px) and the tests' steps are tiny: the suite is mostly compiles. One XLA thread
        # a process: the two xdist workers already fill the two cores, and threads waiting on each other
        # cost CPU (a tiny training: 6 % less).
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices} --xla_backend_optimization_level=0 "
                     "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
        "HF_HUB_OFFLINE": "1",  # no test reaches the net; a hub lookup reads a local cache or fails
        "LC_ALL": "C.UTF-8",
        "PYTHONUTF8": "1",
    })
    return root


def pytest_addoption(parser):
    parser.addoption("--platform", default="cpu",
                     help="JAX platform for the suite (cpu; the GPU check runs parity tests with cuda)")
    parser.addoption("--devices", type=int, default=1,
                     help="fake CPU devices; tests/multi_device is collected only with more than one")


def pytest_configure(config):
    shared = getattr(config, "workerinput", {}).get("jaxres_root")  # an xdist worker: its controller's
    worker = f"-{config.workerinput['workerid']}" if shared else ""
    config.jaxres_root = _hermetic_environment(config.getoption("--platform"), config.getoption("--devices"),
                                               pathlib.Path(shared) if shared else None, worker)
    import jax  # after the environment: JAX reads XLA_FLAGS and JAX_PLATFORMS when it starts

    jax.config.update("jax_compilation_cache_dir", os.environ["JAXRES_COMPILATION_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    if jax.default_backend() != "cpu":
        # On a GPU, float32 matmuls and convolutions default to TF32 (10 mantissa bits): the parity
        # tests compare against torch's float32 and float64 on CPU, so they ask for true float32.
        jax.config.update("jax_default_matmul_precision", "highest")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist: the workers share the controller's folder, so a program compiled by one is read by the other."""
    node.workerinput["jaxres_root"] = str(node.config.jaxres_root)


def pytest_ignore_collect(collection_path, config):
    """tests/multi_device needs several devices: a process of its own (tests/test_multi_device.py)."""
    if config.getoption("--devices") == 1 and MULTI_DEVICE in (collection_path, *collection_path.parents):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def _own_working_folder(tmp_path, monkeypatch):
    """Every test runs in a folder of its own: a default `runs/<task>` or a stray relative path lands
    there, never in the checkout or the caller's folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def shared_data():
    """The real sample data sets beside the repository (`../shared/data`); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (only present beside the project checkout)")
    return SHARED_DATA
