"""Keypoint permutations for horizontal flips: `flipped_points = mirrored_points[flip_map]`, an involution."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from jaxres.errors import ConfigError


def flip_map_from_pairs(pairs: Iterable[Sequence[int]], k: int) -> np.ndarray:
    """Identity on K points with each (a, b) pair swapped; points in no pair map to themselves."""
    perm = np.arange(k)
    seen: set[int] = set()
    for pair in pairs:
        a, b = (int(v) for v in pair)
        for v in (a, b):
            if not 0 <= v < k:
                raise ConfigError(f"flip pair {tuple(pair)} names point {v}, outside 0..{k - 1}")
            if v in seen:
                raise ConfigError(f"flip pairs name point {v} twice; each point may be in one pair")
        seen.update((a, b))
        perm[a], perm[b] = b, a
    return perm


# The 300-W 68-point layout, mirrored part by part (indices 0-based, as in dlib's XML).
IBUG_68: np.ndarray = flip_map_from_pairs(
    [(i, 16 - i) for i in range(8)]  # jaw 0..16, chin 8 on the axis
    + [(17 + i, 26 - i) for i in range(5)]  # brows: outer 17 <-> 26 ... inner 21 <-> 22
    + [(31, 35), (32, 34)]  # nose: bridge 27..30 and tip 33 on the axis
    # Eyes run outer corner, upper lid, inner corner, lower lid: 36..41 and 42..47 in mirror order.
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lip: 51 top, 57 bottom on the axis
    + [(60, 64), (61, 63), (65, 67)],  # inner lip: 62 top, 66 bottom on the axis
    68,
)
IBUG_68.setflags(write=False)


def check_flip_map(flip_map: Sequence[int], k: int) -> np.ndarray:
    """`flip_map` as an int array, after checking it is a length-K involution."""
    perm = np.asarray(flip_map, np.int64)
    if perm.shape != (k,):
        raise ConfigError(f"flip map has {perm.size} entries but the data have {k} keypoints")
    if not np.array_equal(np.sort(perm), np.arange(k)) or not np.array_equal(perm[perm], np.arange(k)):
        raise ConfigError("flip map must swap points in pairs (p[p[i]] == i); check the configured pairs")
    return perm
