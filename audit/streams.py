"""Independent random streams, keyed by name.

Every random draw of an audit comes from a stream keyed by the audit's seed and a path of
names (check, probe, family, level, stage), so adding or reordering a probe, a family or a
section changes no other one's numbers: each stream is a `numpy.random.SeedSequence` of the
seed and a stable hash of its keys, never a draw from a shared generator.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _key(part: str | int) -> int:
    """A stable 64-bit integer for a key (Python's own `hash` of a str varies per process)."""
    if isinstance(part, int):
        return part
    return int.from_bytes(hashlib.sha256(part.encode("utf-8")).digest()[:8], "little")


def stream(seed: int, *keys: str | int) -> np.random.Generator:
    """The reproducible generator for `keys` under `seed`, independent of every other key."""
    return np.random.default_rng(np.random.SeedSequence([seed, *map(_key, keys)]))


__all__ = ["stream"]
