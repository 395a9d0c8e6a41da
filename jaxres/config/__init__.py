"""Configs are nested dicts (`configs/<task>.py:get_config()`); `--set key=value` parses a Python literal
that must keep the default's type, or a `ConfigError` names the key."""

from __future__ import annotations

import ast
import copy
import difflib
import importlib.util
import pathlib
from typing import Any

from jaxres.errors import ConfigError


def load_config_file(path: str | pathlib.Path) -> dict:
    """Import a Python config file and call its `get_config()`."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError("config file not found", where=str(path))
    if path.suffix != ".py":
        raise ConfigError("a config file is Python with a get_config() function (configs/<task>.py shows one); "
                          "for a few keys use --set key=value", where=str(path))
    spec = importlib.util.spec_from_file_location(f"_jaxres_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise ConfigError(f"cannot import: {type(err).__name__}: {err}", where=str(path)) from err
    if not hasattr(module, "get_config"):
        raise ConfigError("has no get_config() function", where=str(path))
    try:
        config = module.get_config()
    except Exception as err:
        raise ConfigError(f"get_config() failed: {type(err).__name__}: {err}", where=str(path)) from err
    if not isinstance(config, dict):
        raise ConfigError(f"get_config() must return a dict, got {type(config).__name__}", where=str(path))
    return config


def apply_overrides(config: dict, overrides: list[str]) -> dict:
    config = copy.deepcopy(config)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes key=value, got {item!r}")
        set_path(config, key.strip(), parse_value(text.strip()))
    return config


def parse_value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word such as cosine or resnet50


def set_path(config: dict, dotted: str, value: Any) -> None:
    node = config
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            known = sorted(node) if isinstance(node, dict) else []
            guesses = nearest_keys(config, dotted)
            hint = f"; did you mean {' or '.join(map(repr, guesses))}?" if guesses else ""
            raise ConfigError(f"unknown config key {dotted!r} ({'.'.join(parts[:depth + 1])!r} not in {known}){hint}"
                              " (the config command lists every key)")
        if depth == len(parts) - 1:
            node[part] = _checked(dotted, node[part], value)
        else:
            node = node[part]


def flat_keys(config: dict, prefix: str = "") -> dict[str, Any]:
    """{dotted key: value} for every leaf of `config`: an empty dict, or one keyed by dotted keys
    (synthetic.overrides), is a leaf; it takes a whole dict."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value and not any("." in str(k) for k in value):
            out.update(flat_keys(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def nearest_keys(config: dict, dotted: str, most: int = 3) -> list[str]:
    """The known keys a misspelled `dotted` most likely meant: close spellings of the whole key,
    and the same last name in another section (`train.lr` -> `optim.lr`)."""
    keys = list(flat_keys(config))
    last = dotted.rpartition(".")[2]
    same_name = [k for k in keys if k.rpartition(".")[2] == last]
    close = difflib.get_close_matches(dotted, keys, n=most, cutoff=0.75)
    return list(dict.fromkeys(same_name + close))[:most]


def key_table(config: dict) -> str:
    """Every key of `config` with its value and the type `--set` accepts for it, one per line."""
    rows = [(key, repr(value), "any (default None)" if value is None else
             "float (an int is fine)" if isinstance(value, float) else type(value).__name__)
            for key, value in flat_keys(config).items()]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    widths[1] = min(widths[1], 24)  # a long list or dict overflows its column rather than widen all
    return "\n".join(f"{k:<{widths[0]}}  {v:<{widths[1]}}  {t}" for k, v, t in rows)


def _checked(key: str, default: Any, value: Any) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool) == isinstance(value, bool):  # a bool only for a bool (it is an int too)
        if isinstance(default, float) and isinstance(value, int):
            return float(value)
        if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
            return type(default)(value)
        if isinstance(value, type(default)):
            return value
    kind = type(default).__name__
    raise ConfigError(f"config key {key!r} takes {'an' if kind[0] in 'aeiou' else 'a'} {kind}, got {value!r}")


def get_path(config: dict, dotted: str, default: Any = None) -> Any:
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def synthetic_overrides(config: dict) -> dict:
    """The keys the embedded demo run (no --data) sets differently from the task's config ({} when none)."""
    return dict((config.get("synthetic") or {}).get("overrides") or {})
