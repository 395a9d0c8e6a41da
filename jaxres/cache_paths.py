"""The one root of everything jaxres keeps between runs: `$JAXRES_CACHE`, default `~/.cache/jaxres`.

Below it: `data/<task>` (the embedded synthetic sets), `frames/` (decoded frames, see
`jaxres.data.frame_cache`), `weights/` (downloaded state dicts) and `xla/` (JAX's compilation cache,
unless `$JAXRES_COMPILATION_CACHE` says otherwise). Deleting any of them is safe:
it is rebuilt (or downloaded) on next use.
"""

from __future__ import annotations

import os
import pathlib


def root() -> pathlib.Path:
    return pathlib.Path(os.environ.get("JAXRES_CACHE", "~/.cache/jaxres")).expanduser()


def frames_dir(config_value: str | None = None) -> pathlib.Path:
    """`data.cache_dir` when set, else `<root>/frames`."""
    return pathlib.Path(config_value).expanduser() if config_value else root() / "frames"
