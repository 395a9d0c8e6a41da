"""The operating-system calls that differ between Linux, macOS and Windows, each with its fallback; system
modules are looked up at each call."""

from __future__ import annotations

import importlib
import os


def usable_cpus() -> int:
    """How many CPUs this process may run on (at least 1): its affinity mask (a container, `taskset`), if any."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        try:
            return max(len(affinity(0)), 1)
        except OSError:
            pass
    return os.cpu_count() or 1


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def lock_kind() -> str:
    """"flock" (Unix), "msvcrt" (Windows) or "none": how `try_lock` locks on this system."""
    if _module("fcntl") is not None:
        return "flock"
    return "msvcrt" if _module("msvcrt") is not None else "none"


def try_lock(fd: int) -> bool:
    """Take an exclusive lock on `fd` without waiting: True when taken (or where the system cannot lock),
    False when another process holds it; released when the process dies."""
    fcntl = _module("fcntl")
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    msvcrt = _module("msvcrt")
    if msvcrt is not None:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # the first byte stands for the file
        except OSError:
            return False
        return True
    return True


def unlock(fd: int) -> None:
    """Release what `try_lock` took on `fd`."""
    fcntl = _module("fcntl")
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    elif (msvcrt := _module("msvcrt")) is not None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def sync_folder(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk; nothing to do on Windows."""
    if os.name == "nt":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def process_gone(pid: int) -> bool:
    """Whether process `pid` of this host has ended; False when that cannot be told (Windows, where
    `os.kill(pid, 0)` would terminate the process, or another user's process)."""
    if os.name == "nt":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
