"""The devices a run computes on, in words for its start line: count, platform, chip and compute dtype."""

from __future__ import annotations


def describe(devices, dtype=None) -> str:
    """'1 device (cpu)', '8 devices (gpu: NVIDIA H100 80GB HBM3, bfloat16)': `devices` as
    `jax.devices()` gives them, `dtype` the compute dtype when it should be named."""
    kinds = sorted({f"{d.platform}: {d.device_kind}" if d.device_kind.lower() != d.platform else d.platform
                    for d in devices})
    what = ", ".join(kinds) + (f", {dtype}" if dtype is not None else "")
    return f"{len(devices)} device{'s' if len(devices) != 1 else ''} ({what})"
