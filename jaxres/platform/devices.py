"""The devices a run computes on, in words for its start line: how many, which platform, which chip.

"1 device(s)" says nothing about whether a GPU was found; the platform and the device kind (the
chip's name, e.g. "NVIDIA H100 80GB HBM3") do, and so does the compute dtype `model.dtype=auto`
chose for them (jaxres.train.precision).
"""

from __future__ import annotations


def describe(devices, dtype=None) -> str:
    """'1 device (cpu)', '8 devices (gpu: NVIDIA H100 80GB HBM3, bfloat16)': `devices` as
    `jax.devices()` gives them, `dtype` the compute dtype when it should be named."""
    kinds = sorted({f"{d.platform}: {d.device_kind}" if d.device_kind.lower() != d.platform else d.platform
                    for d in devices})
    what = ", ".join(kinds) + (f", {dtype}" if dtype is not None else "")
    return f"{len(devices)} device{'s' if len(devices) != 1 else ''} ({what})"
