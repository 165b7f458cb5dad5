"""Stand-in for `audit.stats.wilson_interval` until that module lands on main (then import it)."""

from __future__ import annotations

import numpy as np
from scipy import stats as _sp


def wilson_interval(
    successes: np.ndarray | int, n: np.ndarray | int, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion, elementwise (n must be > 0)."""
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    z = float(_sp.norm.ppf(0.5 + confidence / 2.0))
    p = k / m
    den = 1.0 + z * z / m
    centre = (p + z * z / (2 * m)) / den
    half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / den
    lo = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(k == m, 1.0, np.clip(centre + half, 0.0, 1.0))
    return lo, hi
