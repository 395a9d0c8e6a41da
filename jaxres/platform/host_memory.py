"""Keep a long run's host memory flat: one malloc arena, and freed heap pages given back after saves.

glibc keeps freed blocks in per-thread arenas, and with XLA's and orbax's worker threads a CPU
run's resident set climbs for many epochs without any live data growing; one arena for the whole
process keeps it flat, and `malloc_trim(0)` returns the pages a finished checkpoint save freed
(docs/BENCHMARKS.md, "Soak"). Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
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
    """Every thread allocates from the main malloc arena from now on; True when glibc took it.

    A thread keeps the arena of its first allocation, so this must run before other threads
    allocate: before numpy starts its BLAS thread and JAX its pools (`process.prepare_process`).
    A MALLOC_ARENA_MAX in the environment is the user's choice, which glibc has already applied:
    then nothing changes here.
    """
    mallopt = _libc("mallopt")
    if mallopt is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(mallopt(M_ARENA_MAX, 1))


def release_freed_memory() -> bool:
    """Trim the heap; True when glibc's `malloc_trim` ran."""
    trim = _libc("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True


class HostHooks:
    """What the training loop lets the host do at its points: hand freed heap pages back to the OS.

    A save's host copies and write buffers (about twice the state) are freed when it is written;
    glibc keeps those pages, so the heap is trimmed after each epoch's save starts (what the
    previous save freed) and, for a background save, as soon as the loop sees it finished (a cheap
    check after each step) and once the run has waited for its last save.
    """

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
