"""A weights file's tensors are floating point and finite, or the file is refused on load.

An int8 (quantised) tensor cast to float32 is a different network, and a NaN in a weights file made
the first step's loss non-finite, reported as a learning-rate problem. Both are named here, at the
file and key, before a model is built from them. BatchNorm's `num_batches_tracked` is an integer
counter by design and is exempt.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from jaxres.errors import WeightsError

_INTEGER_KEYS = ("num_batches_tracked",)
_EXTRA_FLOATS = ("bfloat16",)  # ml_dtypes' bfloat16 is not a numpy floating subtype


def checked_tensors(state: Mapping[str, np.ndarray], where: str) -> Mapping[str, np.ndarray]:
    """`state` unchanged, or a WeightsError naming the first non-float or non-finite tensor."""
    for key, value in state.items():
        if key.endswith(_INTEGER_KEYS):
            continue
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.floating) or array.dtype.name in _EXTRA_FLOATS):
            raise WeightsError(f"tensor {key!r} is {array.dtype}, not floating point (a quantised or foreign "
                               "file?); give float32/float16/bfloat16 weights", where=where)
        if not np.isfinite(array).all():
            raise WeightsError(f"tensor {key!r} holds NaN or infinity; the file is damaged", where=where)
    return state
