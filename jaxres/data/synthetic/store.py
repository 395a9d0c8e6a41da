"""Write a generated set once, atomically (a temporary sibling renamed into place), known by its manifest."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jaxres.errors import DataError

MANIFEST = "manifest.json"


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def build_once(root, generator: str, version: int, params: dict[str, Any], build: Callable[[Path], None]) -> Path:
    """Make `root` hold the set `build` writes for `params` unless it already does (never overwriting
    anything else); return root."""
    root = Path(root).expanduser().resolve()
    manifest = {"generator": generator, "version": version, "params": params}
    if read_manifest(root) == manifest:
        return root
    if root.exists() and read_manifest(root) is None and any(root.iterdir()):
        raise DataError("folder is not empty and holds no synthetic-set manifest; choose another folder",
                        where=str(root))
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        build(tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        _swap_in(tmp, root, manifest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _swap_in(tmp: Path, root: Path, manifest: dict) -> None:
    """Rename `tmp` to `root`, moving an outdated set aside first; tolerate a concurrent winner."""
    old = None
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
        os.replace(root, old / "set")
    try:
        os.replace(tmp, root)
    except OSError:
        if read_manifest(root) != manifest:  # another process put something else there meanwhile
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
