"""Bootstrap intervals for fairness aggregates and impact ratios, from confusion counts.

Resampling rows with replacement only changes how many rows fall in each (group, true class,
predicted class) cell, so one multinomial draw over those cells per resample replaces a pass
over the data (`audit.stats.multinomial_resamples`). Each feature or intersection is drawn
over its own cells: its interval has the same distribution as under fairlearn's row
bootstrap, and the cost never depends on how finely the other features split the rows.
No MetricFrame is built per resample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.checks.bias._groups import Scope
from audit.checks.bias._rates import AGGREGATE_NAMES, aggregates, one_vs_rest
from audit.stats import multinomial_resamples, percentile_interval


@dataclass(frozen=True)
class Target:
    """One scope measured for one class: which groups enter the aggregates."""

    scope: Scope
    k: int
    included: np.ndarray  # bool (G,): the groups the aggregates span
    reference: np.ndarray  # bool (G,): the groups an impact ratio's most-selected group is from


@dataclass(frozen=True)
class Intervals:
    """Percentile intervals of the aggregates (by name) and of each group's impact ratio."""

    aggregate_low: dict[str, float]
    aggregate_high: dict[str, float]
    impact_low: np.ndarray  # (G,)
    impact_high: np.ndarray  # (G,)


def _statistics(scope_table: np.ndarray, target: Target) -> np.ndarray:
    """(b, 5 + G): the aggregates then the impact ratios, one row per resample."""
    values, impact = aggregates(
        *one_vs_rest(scope_table, target.k), target.included, target.reference
    )
    return np.column_stack([*(values[name] for name in AGGREGATE_NAMES), impact])


def bootstrap_intervals(
    scope_tables: dict[str, np.ndarray],
    targets: list[Target],
    *,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> list[Intervals]:
    """Intervals per target from `n_boot` multinomial resamples of its scope's (G, K, K) counts.

    Scopes are drawn in the order their targets first appear, so a seed fixes every draw.
    """
    samples: list[list[np.ndarray]] = [[] for _ in targets]
    order = list(dict.fromkeys(t.scope.name for t in targets))
    for name in order:
        mine = [i for i, t in enumerate(targets) if t.scope.name == name]
        for draw in multinomial_resamples(scope_tables[name], n_boot, rng):
            for i in mine:
                samples[i].append(_statistics(draw, targets[i]))
    out = []
    n_agg = len(AGGREGATE_NAMES)
    for target, chunks in zip(targets, samples, strict=True):
        groups = len(target.scope.labels)
        if not chunks:
            nan = np.full(n_agg + groups, np.nan)
            low, high = nan, nan
        else:
            low, high = percentile_interval(np.concatenate(chunks), confidence, axis=0)
        out.append(
            Intervals(
                aggregate_low=dict(zip(AGGREGATE_NAMES, low[:n_agg].tolist(), strict=True)),
                aggregate_high=dict(zip(AGGREGATE_NAMES, high[:n_agg].tolist(), strict=True)),
                impact_low=low[n_agg:],
                impact_high=high[n_agg:],
            )
        )
    return out
