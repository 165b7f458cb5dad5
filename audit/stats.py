"""Small, vectorized statistics every check shares: intervals, resampling, multiple testing.

Each function works on whole arrays at once so a check can put an interval on thousands of
rates, or draw a thousand bootstrap resamples, in one numpy pass. Nothing here knows about
checks or policies.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DEFAULT_POWER",
    "benjamini_hochberg",
    "bonferroni",
    "crossing_level",
    "holm",
    "mcnemar_exact",
    "minimum_detectable_deviation",
    "minimum_detectable_difference",
    "minimum_detectable_shortfall",
    "multinomial_resamples",
    "percentile_interval",
    "safe_divide",
    "widened_interval",
    "wilson_crossing",
    "wilson_interval",
]

# The power the smallest detectable difference is quoted at (a common design convention).
DEFAULT_POWER = 0.8

_BAD_CONFIDENCE = "confidence must be strictly between 0 and 1, got {0!r}"
_BAD_PVALUES = "p-values must lie in [0, 1] and be finite"
_BAD_COUNTS = "counts must be non-negative and finite"

# A bootstrap draw table above this many cells is produced in several chunks to cap memory.
_MAX_DRAW_CELLS = 8_000_000


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(_BAD_CONFIDENCE.format(confidence))
    return _z_cached(float(confidence))


@functools.lru_cache(maxsize=1024)
def _z_cached(confidence: float) -> float:
    # scipy's scalar ppf costs tens of microseconds; a judge asks for the same few levels often
    from scipy import stats as _sp  # here, not at import: scipy.stats costs ~0.5 s to load

    return float(_sp.norm.ppf(0.5 + confidence / 2.0))


def safe_divide(num: ArrayLike, den: ArrayLike) -> np.ndarray:
    """`num / den` as float64, NaN where the denominator is zero (an undefined rate)."""
    top = np.asarray(num, dtype=np.float64)
    bottom = np.asarray(den, dtype=np.float64)
    shape = np.broadcast_shapes(top.shape, bottom.shape)
    out = np.full(shape, np.nan)
    np.divide(top, bottom, out=out, where=np.broadcast_to(bottom != 0, shape))
    return out


def wilson_interval(
    successes: np.ndarray | int, n: np.ndarray | int, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion, elementwise.

    Chosen over the normal (Wald) interval because it keeps its coverage near 0 and 1 and for
    small groups, which is exactly where fairness findings live. Returns NaN where `n == 0`.
    """
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    if np.any(k < 0) or np.any(m < 0) or np.any(k > m) or not np.all(np.isfinite(k)):
        raise ValueError(_BAD_COUNTS)
    z = _z(confidence)
    z2 = z * z
    p = safe_divide(k, m)
    denom = 1.0 + safe_divide(z2, m)
    centre = (p + safe_divide(z2, 2.0 * m)) / denom
    half = z * np.sqrt(safe_divide(p * (1.0 - p), m) + safe_divide(z2, 4.0 * m * m)) / denom
    # exact at the edges: floating point can leave 1 - 1e-16 where the bound is 1
    defined = m > 0
    low = np.where(defined & (k == 0), 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(defined & (k == m), 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high


def percentile_interval(
    samples: np.ndarray, confidence: float = 0.95, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along `axis`, ignoring resamples where the value is NaN.

    Matches fairlearn's `MetricFrame(ci_quantiles=...)`, which takes numpy quantiles with
    linear interpolation. All-NaN columns give NaN.
    """
    alpha = 1.0 - confidence
    _z(confidence)
    samples = np.asarray(samples, dtype=np.float64)
    valid = np.isfinite(samples)
    filled = np.where(valid, samples, np.nan)
    moved = np.moveaxis(filled, axis, -1)
    # np.nanquantile warns on all-NaN slices; compute on rows that have data only.
    has = valid.any(axis=axis)
    low = np.full(has.shape, np.nan)
    high = np.full(has.shape, np.nan)
    if has.any():
        rows = moved[has]
        q = nanquantile_rows(rows.reshape(-1, rows.shape[-1]), (alpha / 2.0, 1.0 - alpha / 2.0))
        low[has], high[has] = q[0].reshape(rows.shape[:-1]), q[1].reshape(rows.shape[:-1])
    return low, high


def nanquantile_rows(x: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """`np.nanquantile(x, qs, axis=-1)` (linear method) for a 2-D array whose every row holds a
    number, bit for bit, in whole-array operations.

    numpy falls back to one Python-level quantile per row once a NaN is present, which made
    the bootstrap of thousands of groups' impact ratios slow; this sorts once (NaN last) and
    interpolates at each row's own count of numbers exactly as numpy's `_lerp` does.
    """
    ordered = np.sort(x, axis=-1)
    last = (~np.isnan(ordered)).sum(axis=-1) - 1
    out = np.empty((len(qs), len(x)))
    for i, q in enumerate(qs):
        virtual = last * float(q)
        below = np.floor(virtual)
        gamma = virtual - below
        lo = np.minimum(below.astype(np.intp), last)
        hi = np.minimum(lo + 1, last)
        a = np.take_along_axis(ordered, lo[:, None], axis=-1)[:, 0]
        b = np.take_along_axis(ordered, hi[:, None], axis=-1)[:, 0]
        diff = b - a
        out[i] = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
    return out


def multinomial_resamples(
    counts: np.ndarray, n_boot: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Bootstrap resamples of a table of cell counts, yielded in chunks of shape (b, *counts.shape).

    Resampling N rows with replacement and then counting them per cell is the same, in
    distribution, as one multinomial draw of N over the cells with probabilities counts / N.
    So a bootstrap of any statistic that depends on the data only through cell counts (group
    confusion matrices, for instance) needs a draw of size (n_boot, cells) instead of n_boot
    passes over the rows. Chunks keep the draw table under a fixed memory budget; the
    sequence of draws depends only on `rng`, `counts` and `n_boot`.
    """
    counts = np.asarray(counts)
    flat = counts.reshape(-1).astype(np.float64)
    if np.any(flat < 0) or not np.all(np.isfinite(flat)):
        raise ValueError(_BAD_COUNTS)
    total = int(flat.sum())
    if n_boot <= 0 or total == 0:
        return
    pvals = flat / total
    chunk = max(1, _MAX_DRAW_CELLS // max(1, flat.size))
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        draw = rng.multinomial(total, pvals, size=size)
        yield draw.reshape(size, *counts.shape)
        done += size


def _check_p(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
        raise ValueError(_BAD_PVALUES)
    return p


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (family-wise error control), in the input order.

    Reject hypothesis i at level α when its adjusted p-value is <= α.
    """
    p = _check_p(pvalues)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out.reshape(np.shape(pvalues))


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (false discovery rate control), in the input order."""
    p = _check_p(pvalues)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out.reshape(np.shape(pvalues))


def bonferroni(pvalues: np.ndarray) -> np.ndarray:
    """Bonferroni adjusted p-values, min(1, m·p), in the input order."""
    p = _check_p(pvalues)
    return np.minimum(p * p.size, 1.0)


def widened_interval(
    low: np.ndarray | float,
    high: np.ndarray | float,
    confidence: float,
    new_confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """An interval made at `confidence`, rebuilt at `new_confidence` by its normal tails.

    The standard error is read off the interval's width, se = (high - low) / (2 z), and each
    end moves by (z' - z)·se. When the estimate's sampling distribution is normal with that
    standard error this is exact, and for a percentile bootstrap interval it keeps the
    interval's location (bias included) while extending its tails as a normal would. It is an
    approximation for any other interval, and the only one available for a bootstrap whose
    draws cannot resolve a tail as far out as α/(2m).
    """
    z, z_new = _z(confidence), _z(new_confidence)
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    shift = (z_new - z) * (high - low) / (2.0 * z)
    return low - shift, high + shift


def _two_sided(z_star: np.ndarray) -> np.ndarray:
    """The two-sided miss rate α' whose interval has an end exactly z_star standard errors out."""
    from scipy import stats as _sp

    return np.clip(2.0 * _sp.norm.sf(z_star), 0.0, 1.0)


def crossing_level(
    low: np.ndarray | float,
    high: np.ndarray | float,
    confidence: float,
    threshold: float,
    side: str,
) -> np.ndarray:
    """The smallest α' at which the `side` end of the widened interval lies beyond `threshold`.

    "Beyond" is above the threshold for the lower end (`ci_low`) and below it for the upper
    end (`ci_high`): the event a rule on that bound turns on. The interval at level 1 - α'
    (see `widened_interval`) has that end beyond the threshold exactly when α' > this value,
    so it is the p-value of the one-bound test the rule makes, on the two-sided scale that
    interval levels use. 1 when no level puts the bound beyond the threshold.
    """
    z = _z(confidence)
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    se = (high - low) / (2.0 * z)
    gap = (low - threshold) if side == "ci_low" else (threshold - high)
    # A subnormal standard error overflows to ±inf, which is the right limit.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z_star = np.where(
            se > 0, z + gap / np.where(se > 0, se, 1.0), np.where(gap > 0, np.inf, -np.inf)
        )
    return _two_sided(z_star)


def wilson_crossing(
    successes: np.ndarray | int, n: np.ndarray | int, threshold: float, side: str
) -> np.ndarray:
    """The smallest α' at which the `side` end of the Wilson interval lies beyond `threshold`.

    The Wilson interval at level 1 - α' is every t with |p̂ - t| <= z·sqrt(t(1 - t)/n), so
    its lower end passes t exactly where z = (p̂ - t) / sqrt(t(1 - t)/n): the score test of
    p = t. Exact, in closed form; 1 when no level puts the bound beyond the threshold.
    """
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    if np.any(k < 0) or np.any(m <= 0) or np.any(k > m):
        raise ValueError(_BAD_COUNTS)
    p = k / m
    t = float(threshold)
    if t <= 0.0 or t >= 1.0:
        # Every Wilson interval lies in [0, 1] and reaches 0 and 1 only in the limit z → ∞.
        beyond = (t < 0.0) if side == "ci_low" else (t > 1.0)
        return np.full(np.broadcast_shapes(k.shape, m.shape), 0.0 if beyond else 1.0)
    z_star = ((p - t) if side == "ci_low" else (t - p)) / np.sqrt(t * (1.0 - t) / m)
    return _two_sided(z_star)


def _power_factor(alpha: float, power: float) -> float:
    """z_{1-α/2} + z_{power}: the separation, in standard errors, that a test at α detects."""
    if not 0.0 < power < 1.0:
        raise ValueError(_BAD_CONFIDENCE.format(power))
    return _z(1.0 - alpha) + _z(2.0 * power - 1.0)


def minimum_detectable_difference(
    rate: np.ndarray | float,
    n1: np.ndarray | int,
    n2: np.ndarray | int,
    alpha: float,
    power: float = DEFAULT_POWER,
) -> np.ndarray:
    """Smallest true gap between two proportions a two-sided test at `alpha` finds with `power`.

    The normal approximation (z_{1-α/2} + z_{1-β})·sqrt(p(1 - p)(1/n1 + 1/n2)), with p the
    pooled rate: the variance is taken at the null, so it is the textbook sample-size formula
    solved for the gap. NaN where a group is empty.
    """
    p = np.asarray(rate, dtype=np.float64)
    inv = safe_divide(1.0, n1) + safe_divide(1.0, n2)
    return _power_factor(alpha, power) * np.sqrt(p * (1.0 - p) * inv)


def minimum_detectable_deviation(
    rate: np.ndarray | float, n: np.ndarray | int, alpha: float, power: float = DEFAULT_POWER
) -> np.ndarray:
    """One proportion against a fixed bound: (z_{1-α/2} + z_{1-β})·sqrt(p(1 - p)/n)."""
    p = np.asarray(rate, dtype=np.float64)
    return _power_factor(alpha, power) * np.sqrt(p * (1.0 - p) * safe_divide(1.0, n))


def minimum_detectable_shortfall(
    rate: np.ndarray | float,
    n1: np.ndarray | int,
    n2: np.ndarray | int,
    alpha: float,
    power: float = DEFAULT_POWER,
) -> np.ndarray:
    """Smallest true shortfall 1 - p1/p2 of a ratio of proportions found at `alpha` with `power`.

    Delta method on the log ratio: var(log p̂1/p̂2) ≈ (1 - p1)/(n1 p1) + (1 - p2)/(n2 p2),
    taken at the null p1 = p2 = p, so a log-ratio of (z_{1-α/2} + z_{1-β})·
    sqrt((1 - p)/p·(1/n1 + 1/n2)) is detected; the shortfall is 1 - exp(-that). NaN at p = 0.
    """
    p = np.asarray(rate, dtype=np.float64)
    inv = safe_divide(1.0, n1) + safe_divide(1.0, n2)
    log_gap = _power_factor(alpha, power) * np.sqrt(safe_divide(1.0 - p, p) * inv)
    return -np.expm1(-log_gap)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test on the discordant pair counts of a paired design.

    `b` counts pairs that changed one way and `c` the other; under the null each discordant
    pair goes either way with probability 1/2, so the test is a binomial test of b out of b+c.
    """
    if b < 0 or c < 0:
        raise ValueError(_BAD_COUNTS)
    n = b + c
    if n == 0:
        return 1.0
    from scipy import stats as _sp

    return float(min(1.0, 2.0 * _sp.binom.cdf(min(b, c), n, 0.5)))
