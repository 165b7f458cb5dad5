"""What the bias check's metrics carry so the policy can adjust their intervals and judge power.

The check reports each interval at one level; the judge may need it at another (a family of
m intervals under Holm needs 1 - α/m). A Wilson interval is rebuilt exactly from its counts,
so rate metrics carry them; a bootstrap interval carries its method and level. Comparisons of
groups carry the sizes and pooled rate their power depends on, and each feature gets a
`minimum_detectable_difference` metric a policy can bound (a pack that demands power).
"""

from __future__ import annotations

from typing import Literal, Unpack

import numpy as np

from audit.records import IntervalBasis, Metric, PowerBasis, SubjectKeys
from audit.stats import minimum_detectable_difference

MDD_METRIC = "minimum_detectable_difference"


def wilson_bases(num: np.ndarray, den: np.ndarray, confidence: float) -> list[IntervalBasis]:
    """The counts behind each group's Wilson interval, in group order.

    Groups with the same counts share one (immutable) record: with thousands of small groups
    most counts repeat, and building a record per group and rate dominated the check's cost.
    """
    made: dict[tuple[int, int], IntervalBasis] = {}
    out = []
    for pair in zip(np.asarray(num).tolist(), np.asarray(den).tolist(), strict=True):
        basis = made.get(pair)
        if basis is None:
            basis = made[pair] = IntervalBasis(
                "wilson", confidence, successes=pair[0], trials=pair[1]
            )
        out.append(basis)
    return out


def percentile_basis(confidence: float) -> IntervalBasis:
    return IntervalBasis("percentile", confidence)


def _hardest_pair(
    num: np.ndarray, den: np.ndarray, included: np.ndarray
) -> tuple[tuple[int, int], float] | None:
    """The two smallest groups with the rate defined, and the pooled rate over the included.

    A gap between those two is the hardest to see, so the power quoted holds for every pair.
    """
    usable = included & (den > 0)
    if usable.sum() < 2:
        return None
    sizes = np.sort(den[usable])[:2]
    rate = float(num[usable].sum() / den[usable].sum())
    return (int(sizes[0]), int(sizes[1])), rate


def _spread(rate: float, sizes: tuple[int, int], scale: str) -> float:
    """The standard-error factor power scales with; picks the harder of two rates."""
    inv = 1.0 / sizes[0] + 1.0 / sizes[1]
    if scale == "ratio":
        return (1.0 - rate) / rate * inv if rate > 0 else np.inf
    return rate * (1.0 - rate) * inv


def _basis(
    parts: dict[str, tuple[np.ndarray, np.ndarray]],
    names: tuple[str, ...],
    included: np.ndarray,
    scale: Literal["difference", "ratio"],
) -> PowerBasis | None:
    found = [_hardest_pair(*parts[name], included) for name in names]
    pairs = [p for p in found if p is not None]
    if not pairs:
        return None
    sizes, rate = max(pairs, key=lambda p: _spread(p[1], p[0], scale))
    if not 0.0 < rate < 1.0:
        return None
    return PowerBasis(sizes=sizes, rate=rate, scale=scale)


def aggregate_power(
    parts: dict[str, tuple[np.ndarray, np.ndarray]], included: np.ndarray
) -> dict[str, PowerBasis | None]:
    """The power basis of each between-groups aggregate (equalized odds: the harder rate)."""
    sel, eo = ("selection_rate",), ("true_positive_rate", "false_positive_rate")
    return {
        "demographic_parity_difference": _basis(parts, sel, included, "difference"),
        "demographic_parity_ratio": _basis(parts, sel, included, "ratio"),
        "equalized_odds_difference": _basis(parts, eo, included, "difference"),
        "equalized_odds_ratio": _basis(parts, eo, included, "ratio"),
        "equal_opportunity_difference": _basis(
            parts, ("true_positive_rate",), included, "difference"
        ),
    }


def impact_power(
    parts: dict[str, tuple[np.ndarray, np.ndarray]], reference: np.ndarray
) -> list[PowerBasis | None]:
    """Each group's impact ratio compares it with the most-selected reference group."""
    num, den = parts["selection_rate"]
    rates = np.where(den > 0, num / np.where(den > 0, den, 1), -1.0)
    top = int(np.argmax(np.where(reference, rates, -1.0)))
    out: list[PowerBasis | None] = []
    for g in range(len(den)):
        n = den[g] + den[top]
        rate = float((num[g] + num[top]) / n) if n else 0.0
        ok = g != top and den[g] > 0 and 0.0 < rate < 1.0
        out.append(PowerBasis((int(den[g]), int(den[top])), rate, "ratio") if ok else None)
    return out


def detectable_metric(
    parts: dict[str, tuple[np.ndarray, np.ndarray]],
    included: np.ndarray,
    confidence: float,
    **keys: Unpack[SubjectKeys],
) -> Metric | None:
    """The smallest selection-rate gap between any two included groups found with power 0.8.

    At the check's level (1 - confidence), for the two smallest groups and the pooled rate;
    `n` is the smallest group's, so an undersized feature is `insufficient_data`, not a pass.
    """
    pair = _hardest_pair(*parts["selection_rate"], included)
    if pair is None:
        return None
    sizes, rate = pair
    value = float(minimum_detectable_difference(rate, *sizes, 1.0 - confidence))
    if not np.isfinite(value):
        return None
    return Metric(
        check="bias",
        name=MDD_METRIC,
        value=value,
        n=sizes[0],
        **keys,
    )
