"""Per-program XLA options for the train and eval steps (not XLA_FLAGS, which stay the user's and do not
key the compilation cache), from the backend and the model."""

from __future__ import annotations

from typing import Any

from jaxres.platform.system import usable_cpus


def options_for(model, backend: str, cpus: int) -> dict[str, Any]:
    """The options for `model`'s steps on `backend` with `cpus` CPUs for XLA's thread pool."""
    if backend != "cpu":
        return {}
    # With donated state, copy insertion cannot prove that the in-place parameter update comes after the
    # parameter's last read and copies every parameter and Adam moment each step; region analysis proves it.
    options: dict[str, Any] = {"xla_cpu_copy_insertion_use_region_analysis": True}
    if getattr(model, "block", None) == "basic" and cpus > 1:
        # YNNPACK runs a spatial convolution on one thread, XLA's Eigen convolutions use them all: Eigen wins
        # for BasicBlock nets (all 3x3), YNNPACK for bottleneck nets. Matmuls stay in YNNPACK either way.
        options["xla_cpu_experimental_ynn_fusion_type"] = "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"
    return options


def compiler_options(model) -> dict[str, Any]:
    """`options_for` the default backend and the CPUs this process may run on (XLA's pool follows the affinity)."""
    import jax  # not at import: `jaxres.platform` is imported before numpy and JAX start their threads

    return options_for(model, jax.default_backend(), usable_cpus())
