"""Keep a long run's host memory flat: one malloc arena, and freed pages given back between epochs.

glibc's malloc keeps freed blocks in per-thread arenas; with XLA's and orbax's worker threads the
resident set of a long run climbs for many epochs without any live data growing (measured by
benchmarks/soak.py: +134% over 60 epochs, flat with malloc_trim). `malloc_trim(0)` returns those
pages; it costs tens of milliseconds, once per epoch. Elsewhere than glibc it does nothing.

Trimming returns whole free pages only. What stays is fragmentation spread over the arenas glibc
gives each thread (XLA's, orbax's and tensorstore's): with foreground saves the soak still sat 10-23%
above its first epoch. One arena for the whole process (`use_one_malloc_arena`, what
MALLOC_ARENA_MAX=1 does) keeps a CPU training flat: +4.6% after 60 epochs, same step time on 2
cores, ~25% more time in a cold XLA compile, whose threads then share one lock (docs/BENCHMARKS.md,
"Soak").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.metadata
import importlib.util
import os
import pkgutil

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
    """Every thread allocates from the main malloc arena from now on; True when glibc took it.

    A thread keeps the arena of its first allocation, so this must run before other threads
    allocate: before numpy starts its BLAS thread and JAX its pools (`python -m tasks.<task>` calls
    it as its package is imported; called when `train` started, it left +16.6%, and at the start of
    the command line, after numpy, +12%). A MALLOC_ARENA_MAX in the environment is the user's
    choice, which glibc has already applied: then nothing changes here.
    """
    mallopt = _libc("mallopt")
    if mallopt is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(mallopt(M_ARENA_MAX, 1))


def jax_uses_cpu_only() -> bool:
    """Whether JAX will compute on the CPU, told without importing JAX or numpy: JAX_PLATFORMS names
    only cpu, or no accelerator plugin is installed.

    One arena is for CPU training only. On a 16-core host it cost the input pipeline 13% at 8 loader
    threads (the pace an accelerator is fed at), and with background saves it kept no memory flat."""
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
