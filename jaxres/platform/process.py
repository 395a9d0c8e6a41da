"""The process start policy: one malloc arena only for `train` on the CPU, where it keeps memory flat
(elsewhere it slows compiles and loader threads).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pkgutil

from jaxres.platform.host_memory import use_one_malloc_arena


def prepare_process(command: str | None) -> bool:
    """Apply the start policy for `command` ("train", "eval", ...; None for --help) before numpy or JAX is
    imported; True when every thread now allocates from one arena."""
    if command == "train" and jax_uses_cpu_only():
        return use_one_malloc_arena()
    return False


def jax_uses_cpu_only() -> bool:
    """Whether JAX will compute on the CPU, told without importing JAX or numpy: JAX_PLATFORMS names
    only cpu, or no accelerator plugin is installed."""
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
