"""The CPU platform seam (`jaxres.platform`): the process start policy, the loop's host hooks, the
XLA options per program.

The malloc policy of the task programs: one arena when JAX trains on the CPU, glibc's default
otherwise (why: docs/BENCHMARKS.md, "Soak"). The check here is what glibc itself reports:
`malloc_info` lists one <heap> per arena, and four threads that allocate at once would get four
new arenas under glibc's default.
"""

import os
import pathlib
import subprocess
import sys

import pytest

from jaxres import models, platform
from jaxres.platform import host_memory

REPO = pathlib.Path(__file__).resolve().parent.parent

# Imports the tasks package as `python -m tasks.<task> ARGS` does (argv[0] is "-m" meanwhile), then
# has four threads allocate at once and prints how many arenas glibc has.
COUNT_ARENAS = r"""
import ctypes, os, sys, tempfile, threading
sys.argv = ["-m", *sys.argv[1:]]
import tasks
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.fopen.restype = ctypes.c_void_p
barrier = threading.Barrier(4)
def allocate():
    libc.malloc(4096)
    barrier.wait()
threads = [threading.Thread(target=allocate) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
path = tempfile.mktemp()
stream = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fclose(ctypes.c_void_p(stream))
print(open(path).read().count("<heap nr="))
os.remove(path)
"""


def arenas_after_import(*args: str, **env) -> int:
    environment = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "JAX_PLATFORMS")}
    proc = subprocess.run([sys.executable, "-c", COUNT_ARENAS, *args], cwd=REPO, env={**environment, **env},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux") or host_memory._libc("mallopt") is None,
                    reason="glibc only")
def test_cpu_trainings_use_one_arena_and_everything_else_the_default():
    assert arenas_after_import(JAX_PLATFORMS="cpu") == 1  # `python -m tasks.face` trains
    assert arenas_after_import("train", "--epochs", "3", JAX_PLATFORMS="cpu") == 1
    assert arenas_after_import("train", JAX_PLATFORMS="cuda") >= 4  # each thread its own arena, as glibc does
    assert arenas_after_import("eval", "--workdir", "w", JAX_PLATFORMS="cpu") >= 4  # short: compiles faster
    assert arenas_after_import("train", JAX_PLATFORMS="cpu", MALLOC_ARENA_MAX="3") == 3  # the user's setting stands


@pytest.mark.parametrize("argv", [[], ["train"], ["--epochs", "2"], ["eval", "--workdir", "w"], ["predict"],
                                  ["export"], ["--help"], ["-h"]])
def test_command_of_agrees_with_the_command_line(argv):
    from jaxres.cli import entry as cli
    from jaxres.errors import UserError
    from tasks import face

    try:
        command = cli.parse(face.TASK, argv).command
    except SystemExit:  # --help printed the usage
        command = None
    except UserError:  # a usage error (e.g. predict without --out): the command is the first word
        command = argv[0]
    assert (cli.command_of(argv) == "train") == (command == "train"), argv


def test_jax_platforms_decides_when_set(monkeypatch):
    for value, cpu_only in [("cpu", True), ("cuda", False), ("cpu,cuda", False), (" cpu ,", True), ("tpu", False)]:
        monkeypatch.setenv("JAX_PLATFORMS", value)
        assert platform.jax_uses_cpu_only() is cpu_only, value


def test_an_installed_accelerator_plugin_means_not_cpu_only(monkeypatch, tmp_path):
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    assert platform.jax_uses_cpu_only() is (not platform.accelerator_plugins())
    plugin = tmp_path / "jax_plugins" / "xla_cuda12"  # where jax-cuda12-plugin installs itself
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "xla_cuda12" in platform.accelerator_plugins()
    assert platform.jax_uses_cpu_only() is False


def test_prepare_process_takes_one_arena_only_for_a_cpu_training(monkeypatch):
    calls = []
    monkeypatch.setattr(host_memory, "use_one_malloc_arena", lambda: calls.append("arena") or True)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert platform.prepare_process("train") is True and calls == ["arena"]
    assert platform.prepare_process("eval") is False and calls == ["arena"]
    monkeypatch.setenv("JAX_PLATFORMS", "cuda")
    assert platform.prepare_process("train") is False and calls == ["arena"]


def test_importing_the_platform_starts_neither_numpy_nor_jax():
    probe = subprocess.run([sys.executable, "-c", "import sys, jaxres.platform, tasks; "
                            "print(sorted({'numpy', 'jax'} & set(sys.modules)))"],
                           cwd=REPO, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]", probe.stderr


def test_host_hooks_trim_when_a_background_save_is_done(monkeypatch):
    trims, busy = [], [True]
    monkeypatch.setattr(host_memory, "release_freed_memory", lambda: trims.append("trim"))
    hooks = platform.HostHooks(saving=lambda: busy[0])
    hooks.step_done()
    assert trims == []  # no save yet
    hooks.save_started(background=True)
    hooks.step_done()
    assert trims == []  # still writing: nothing freed yet
    busy[0] = False
    hooks.step_done()
    hooks.step_done()
    assert trims == ["trim"]  # once, as soon as the save is done
    hooks.save_started(background=False)
    hooks.step_done()
    hooks.saves_done()
    assert trims == ["trim"]  # a foreground save: the epoch's end trims after it
    hooks.epoch_end()
    assert trims == ["trim", "trim"]
    hooks.save_started(background=True)
    busy[0] = True
    hooks.saves_done()  # the loop waited for the last save
    assert trims == ["trim", "trim", "trim"]


def test_freed_host_memory_is_returned_on_glibc():
    import platform as system

    expected = system.system() == "Linux" and system.libc_ver()[0] == "glibc"
    assert platform.release_freed_memory() is expected


REGION = "xla_cpu_copy_insertion_use_region_analysis"
YNN = "xla_cpu_experimental_ynn_fusion_type"


def test_basic_block_nets_on_several_cpus_move_convolutions_to_eigen():
    options = platform.options_for(models.create("resnet18", 10), "cpu", 2)
    assert options == {REGION: True, YNN: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


def test_one_cpu_or_bottleneck_nets_keep_ynnpack_convolutions():
    assert platform.options_for(models.create("resnet18", 10), "cpu", 1) == {REGION: True}
    assert platform.options_for(models.create("resnet50", 10), "cpu", 16) == {REGION: True}


def test_other_backends_get_xla_defaults():
    assert platform.options_for(models.create("resnet18", 10), "gpu", 2) == {}
