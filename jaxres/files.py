"""Writing a file so that no reader, and no later run, ever sees half of it: the one rule for every
output jaxres writes (configs, pictures, prediction tables, exports, weights, downloads).

`atomic_path(path)` hands out a temporary path beside `path` (same folder, so the rename cannot cross
file systems; named `.<name>.<random>.tmp`, so a sweep can tell it from finished files); when the
block succeeds the file is flushed to disk, given the permissions a plain `open()` would give
(mkstemp's 0600 would hide an artifact from a server running as another user), renamed onto `path`,
and the rename itself flushed (the folder is fsynced). Any failure (an exception, a full disk, Ctrl-C) removes the temporary file
and re-raises, leaving the old file, if any, untouched.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from typing import Iterator

from jaxres.platform.system import sync_folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yield a temporary path to write; on success it replaces `path` whole."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
        sync_folder(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return pathlib.Path(path)


def write_chunks(path: str | os.PathLike, chunks) -> pathlib.Path:
    """Write an iterable of bytes (e.g. a serialised artifact, a download) atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return pathlib.Path(path)


def new_file_mode() -> int:
    """The mode `open()` gives a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
