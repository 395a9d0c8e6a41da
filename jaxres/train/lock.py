"""One training per workdir: an exclusive lock on `<workdir>/.lock`, released by the system when the
process dies."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import time

from jaxres.errors import UserError
from jaxres.platform import system

LOCK_NAME = ".lock"


class WorkdirLock:
    """Context manager holding an exclusive lock on `workdir`; raises `UserError` when taken."""

    def __init__(self, workdir: str | os.PathLike):
        self.workdir = pathlib.Path(workdir).resolve()
        self.path = self.workdir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "WorkdirLock":
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not system.try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            raise UserError(f"another training ({holder}) is running in this workdir; wait for it to finish, stop it, "
                            "or choose another --workdir", where=str(self.workdir)) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def __enter__(self) -> "WorkdirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            system.unlock(self._fd)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)  # a positional read is not portable (Windows)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        return f"pid {info['pid']} on {info['host']} since {info['since']}"
    except (ValueError, KeyError, OSError):
        return "unknown process"
