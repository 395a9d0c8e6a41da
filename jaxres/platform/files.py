"""Writing a file so that no reader ever sees half of it, the rule for every output: `atomic_path` writes a
temporary file beside the target, flushes it, gives it `open()`'s permissions and renames it into place
(the folder fsynced); any failure leaves the old file. `write_chunks(..., checksum=True)` adds a
`sha256sum`-format `<name>.sha256` that `check_checksum` verifies."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import tempfile
from typing import Iterator

from jaxres.errors import UserError
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
    return write_chunks(path, [text.encode()])


def write_chunks(path: str | os.PathLike, chunks, checksum: bool = False) -> pathlib.Path:
    """Write an iterable of bytes atomically; with `checksum`, then its `<name>.sha256`."""
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    if checksum:
        write_checksum(path)
    return pathlib.Path(path)


def checksum_path(path: str | os.PathLike) -> pathlib.Path:
    path = pathlib.Path(path)
    return path.with_name(path.name + ".sha256")


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksum(path: str | os.PathLike) -> pathlib.Path:
    """`<path>.sha256`: the file's SHA-256 and name, as `sha256sum` writes them."""
    return write_text(checksum_path(path), f"{sha256(path)}  {pathlib.Path(path).name}\n")


def check_checksum(path: str | os.PathLike) -> bool:
    """True when `path` matches its `<name>.sha256`, False without one; a UserError when it no longer matches."""
    recorded = checksum_path(path)
    if not recorded.is_file():
        return False
    expected = (recorded.read_text(errors="replace").split() or [""])[0].lower()
    if sha256(path) != expected:
        raise UserError(f"does not match its checksum in {recorded.name}: the file was damaged or changed "
                        "since it was written; write it again (or delete the .sha256 if you changed it on purpose)",
                        where=str(path))
    return True


def new_file_mode() -> int:
    """The mode `open()` gives a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
