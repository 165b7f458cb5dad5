"""Multiple-comparison control and power for one rule's family of judgements.

A *family* is every metric one rule judges across its subjects (features, intersections,
groups, probes, perturbation families and levels). Checks report intervals at the policy's
confidence together with what it takes to rebuild them at another level (`IntervalBasis`);
here the judge picks the level the family needs and rebuilds the bound it reads:

- `bonferroni` and `holm`: the simultaneous level 1 - α/m for every member. Holm's step-down
  is a procedure for tests and yields no simultaneous intervals, so the decision reads the
  Bonferroni-level bound under both (every printed bound is then jointly valid), and `holm`
  additionally reports the Holm-adjusted p-value of each member's threshold test.
- `bh`: Benjamini–Yekutieli false-coverage-rate intervals, level 1 - Rα/m, where R is the
  number of members the Benjamini–Hochberg procedure selects on the threshold tests' p-values
  (at least 1, so the bound is defined when nothing is selected).
- `none`: the policy's level, unadjusted.

A rule on a p-value metric (name ending in `_p`) judges the p-values adjusted by the method.
A rule on a point estimate has no interval to adjust; its family size is still reported.
The construction is documented for users in docs/methods.md, section "Multiple comparisons".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audit import stats
from audit.policy.model import Defaults, Rule
from audit.records import Adjustment, Detectable, Metric

P_VALUE_SUFFIX = "_p"

WILSON = "Wilson interval rebuilt at the adjusted level"
NORMAL_TAILS = "reported interval widened by its normal tails"
NORMAL_TAILS_ASSUMED = "reported interval widened by its normal tails (made at the policy's level)"
P_VALUES = "p-values adjusted across the family"
POINT = "point estimate (no interval to adjust)"

TWO_PROPORTIONS = "two proportions, normal approximation at the pooled rate"
RATIO_DELTA = "ratio of two proportions, delta method on the log ratio at the pooled rate"
ONE_PROPORTION = "one proportion against the threshold, normal approximation at the threshold"

_ADJUST = {
    "holm": stats.holm,
    "bonferroni": stats.bonferroni,
    "bh": stats.benjamini_hochberg,
}


@dataclass(frozen=True)
class Judged:
    """What the judge compares with the threshold for one metric, and how it got there."""

    observed: float
    adjustment: Adjustment
    alpha: float  # the two-sided level the judged bound (or the power) is at


def is_p_value(name: str) -> bool:
    return name.endswith(P_VALUE_SUFFIX)


def _adjusted_p(method: str, p: np.ndarray) -> np.ndarray:
    return _ADJUST[method](p) if method in _ADJUST else p.copy()


def _wilson_counts(metric: Metric) -> tuple[int, int] | None:
    b = metric.interval
    if b is None or b.method != "wilson" or b.successes is None or not b.trials:
        return None
    return b.successes, b.trials


def _raw_level(metric: Metric, defaults: Defaults) -> float:
    return metric.interval.confidence if metric.interval is not None else defaults.confidence


def _crossings(
    metrics: Sequence[Metric], side: str, threshold: float, defaults: Defaults
) -> np.ndarray:
    """The p-value of the rule's threshold test implied by each metric's interval (vectorized)."""
    out = np.empty(len(metrics))
    wilson = [i for i, x in enumerate(metrics) if _wilson_counts(x) is not None]
    if wilson:
        k, n = np.array([_wilson_counts(metrics[i]) for i in wilson]).T
        out[wilson] = stats.wilson_crossing(k, n, threshold, side)
    for level, idx in _by_raw_level(metrics, wilson, defaults).items():
        low, high = _ends(metrics, idx)
        out[idx] = stats.crossing_level(low, high, level, threshold, side)
    return out


def _by_raw_level(
    metrics: Sequence[Metric], exclude: list[int], defaults: Defaults
) -> dict[float, list[int]]:
    groups: dict[float, list[int]] = {}
    skip = set(exclude)
    for i, x in enumerate(metrics):
        if i not in skip:
            groups.setdefault(_raw_level(x, defaults), []).append(i)
    return groups


def _ends(metrics: Sequence[Metric], idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([metrics[i].ci_low for i in idx], dtype=np.float64)
    high = np.array([metrics[i].ci_high for i in idx], dtype=np.float64)
    return low, high


def _bounds_at(
    metrics: Sequence[Metric], side: str, level: float, defaults: Defaults
) -> tuple[np.ndarray, list[str]]:
    """Each metric's `side` bound rebuilt at `level`, and how it was rebuilt (vectorized)."""
    bounds = np.empty(len(metrics))
    how = [WILSON] * len(metrics)
    wilson = [i for i, x in enumerate(metrics) if _wilson_counts(x) is not None]
    if wilson:
        k, n = np.array([_wilson_counts(metrics[i]) for i in wilson]).T
        low, high = stats.wilson_interval(k, n, level)
        bounds[wilson] = low if side == "ci_low" else high
    for raw, idx in _by_raw_level(metrics, wilson, defaults).items():
        low, high = stats.widened_interval(*_ends(metrics, idx), raw, level)
        bounds[idx] = low if side == "ci_low" else high
        for i in idx:
            how[i] = NORMAL_TAILS if metrics[i].interval is not None else NORMAL_TAILS_ASSUMED
    return bounds, how


def _point_alpha(method: str, alpha: float, m: int) -> float:
    """The level power is quoted at for a rule that reads point estimates or p-values."""
    return alpha if method == "none" else alpha / m


def adjust(rule: Rule, metrics: Sequence[Metric], defaults: Defaults) -> list[Judged]:
    """The judged value of each metric of one rule's family, in the order given.

    Every metric must carry the value the rule reads (`rule.on`); the caller screens out the
    rest before the family is formed.
    """
    method, m = defaults.multiple_comparisons, len(metrics)
    alpha = 1.0 - defaults.confidence
    if m == 0:
        return []
    if rule.on == "value" and is_p_value(rule.metric):
        p = np.clip([x.value for x in metrics], 0.0, 1.0)
        adj = _adjusted_p(method, p)
        a = _point_alpha(method, alpha, m)
        return [
            Judged(
                float(q),
                Adjustment(
                    method,
                    m,
                    P_VALUES,
                    raw=float(r),
                    adjusted=float(q),
                    p_value=float(r),
                    p_adjusted=float(q),
                ),
                a,
            )
            for r, q in zip(p, adj, strict=True)
        ]
    if rule.on == "value":
        a = _point_alpha(method, alpha, m)
        return [Judged(x.value, Adjustment(method, m, POINT), a) for x in metrics]
    side, threshold = rule.on, rule.threshold.value
    p = _crossings(metrics, side, threshold, defaults)
    p_adj = _adjusted_p(method, p)
    if method == "none":
        a = alpha
    elif method == "bh":
        selected = int(np.sum(p_adj <= alpha))
        a = max(selected, 1) * alpha / m
    else:
        a = alpha / m
    bounds, how = _bounds_at(metrics, side, 1.0 - a, defaults)
    return [
        Judged(
            float(b),
            Adjustment(
                method,
                m,
                h,
                level=1.0 - a,
                raw=getattr(x, side),
                adjusted=float(b),
                p_value=float(pv),
                p_adjusted=float(pa),
            ),
            a,
        )
        for x, b, h, pv, pa in zip(metrics, bounds, how, p, p_adj, strict=True)
    ]


def _margin(rule: Rule, scale: str) -> float | None:
    """How far the threshold lies from parity (0 for a difference, 1 for a ratio)."""
    op, t = rule.threshold.op, rule.threshold.value
    if scale == "difference" and op in ("<=", "<") and t > 0:
        return t
    if scale == "ratio" and op in (">=", ">") and t < 1:
        return 1.0 - t
    return None


def detectable(rule: Rule, metric: Metric, alpha: float) -> Detectable | None:
    """The smallest true gap the measurement would detect at two-sided `alpha` with power 0.8.

    For a difference or ratio of rates, from the check's `PowerBasis`; for a single rate
    judged against a fixed bound, from its Wilson trials. None when neither is known.
    """
    power = stats.DEFAULT_POWER
    pb = metric.power
    if pb is not None:
        n1, n2 = pb.sizes
        if pb.scale == "ratio":
            gap = stats.minimum_detectable_shortfall(pb.rate, n1, n2, alpha, power)
            how = RATIO_DELTA
        else:
            gap = stats.minimum_detectable_difference(pb.rate, n1, n2, alpha, power)
            how = TWO_PROPORTIONS
        if not np.isfinite(gap):
            return None
        return Detectable(float(gap), power, alpha, how, _margin(rule, pb.scale))
    counts = _wilson_counts(metric)
    t = rule.threshold.value
    if counts is None or not 0.0 < t < 1.0:
        return None
    gap = stats.minimum_detectable_deviation(t, counts[1], alpha, power)
    return Detectable(float(gap), power, alpha, ONE_PROPORTION)
