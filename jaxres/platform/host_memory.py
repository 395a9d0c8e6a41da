"""A long CPU run's host memory kept flat on glibc: one malloc arena, and `malloc_trim` after checkpoint saves
(per-thread arenas and kept pages made the resident set climb). Elsewhere both do nothing. The process start
policy: one arena only for `train` on the CPU (elsewhere it slows compiles and loader threads)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.metadata
import importlib.util
import os
import pkgutil
from typing import Callable

M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)


@functools.cache
def _libc(function: str):
    """glibc's `function` through ctypes, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), function) if name else None
    except (OSError, AttributeError):
        return None


def use_one_malloc_arena() -> bool:
    """Every thread allocates from the main arena from now on (True when glibc took it). Must run before other
    threads allocate; a MALLOC_ARENA_MAX in the environment is the user's choice and is left alone."""
    mallopt = _libc("mallopt")
    if mallopt is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(mallopt(M_ARENA_MAX, 1))


def prepare_process(command: str | None) -> bool:
    """Apply the start policy for `command` (None for --help) before numpy or JAX load; True when one arena is used."""
    if command == "train" and jax_uses_cpu_only():
        return use_one_malloc_arena()
    return False


def jax_uses_cpu_only() -> bool:
    """Whether JAX will compute on the CPU, told without importing JAX or numpy: JAX_PLATFORMS names
    only cpu, or no accelerator plugin is installed."""
    platforms = [p.strip() for p in os.environ.get("JAX_PLATFORMS", "").split(",") if p.strip()]
    if platforms:
        return set(platforms) == {"cpu"}
    return not accelerator_plugins()


def accelerator_plugins() -> list[str]:
    """The PJRT plugins JAX would load (CUDA, ROCm: `jax_plugins.*` modules or "jax_plugins" entry
    points, as JAX discovers them) and TPU support (`libtpu`)."""
    found = [entry.name for entry in importlib.metadata.entry_points(group="jax_plugins")]
    namespace = importlib.util.find_spec("jax_plugins")
    if namespace is not None and namespace.submodule_search_locations:
        found += [module.name for module in pkgutil.iter_modules(list(namespace.submodule_search_locations))]
    if importlib.util.find_spec("libtpu") is not None:
        found.append("libtpu")
    return sorted(set(found))


def release_freed_memory() -> bool:
    """Trim the heap; True when glibc's `malloc_trim` ran."""
    trim = _libc("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True


class HostHooks:
    """The training loop's host-side points: the heap is trimmed after each epoch's save starts and when a
    background save is seen finished, handing the pages a save freed back to the OS."""

    def __init__(self, saving: Callable[[], bool]):
        self._saving = saving  # whether a checkpoint save is still being written
        self._pending = False  # a background save started since the heap was last trimmed

    def save_started(self, background: bool) -> None:
        """A checkpoint save began; `background`: it is still being written when this returns."""
        self._pending = background

    def step_done(self) -> None:
        if self._pending and not self._saving():
            self._trim()

    def epoch_end(self) -> None:
        """After the epoch's save started: orbax waited for the previous save before starting it."""
        release_freed_memory()

    def saves_done(self) -> None:
        """After the loop waited for the last save."""
        if self._pending:
            self._trim()

    def _trim(self) -> None:
        release_freed_memory()
        self._pending = False
