"""The root of everything kept between runs: `$JAXRES_CACHE` (default `~/.cache/jaxres`) with `data/`,
`frames/`, `weights/` and `xla/` (unless `$JAXRES_COMPILATION_CACHE`), each rebuilt if deleted."""

from __future__ import annotations

import os
import pathlib

from jaxres.errors import ConfigError, UserError


def root() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("JAXRES_CACHE", "~/.cache/jaxres")).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError("$JAXRES_CACHE is a file, not a folder; point it at a folder", where=str(path))
    return path


def frames_dir(config_value=None) -> pathlib.Path:
    """`data.cache_dir` when set, else `<root>/frames`; created, or a one-line error naming it."""
    if config_value is not None and not isinstance(config_value, str):
        raise ConfigError(f"config key 'data.cache_dir' takes a folder path or None, got {config_value!r}")
    path = pathlib.Path(config_value).expanduser() if config_value else root() / "frames"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError("the frame cache folder cannot be created: a file is in the way; set data.cache_dir "
                        "(or $JAXRES_CACHE) to a folder", where=str(path)) from None
    return path
