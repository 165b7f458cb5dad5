"""Calibration by simulation: the judge's family-wise control holds, and its power is as quoted.

A family of 100 intervals (20 groups x 5 one-vs-rest classes, one rule on the group selection
rate against a fixed bound) is simulated with every true rate exactly at the bound (no true
gap: the worst case for a false flag). The metrics are built as the bias check builds them:
Wilson intervals with their counts, or percentile bootstrap intervals from multinomial
resamples, and they go through the real judge. Figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import datetime
import math

import numpy as np
import pytest

from audit.policy import Policy, Rule, judge
from audit.policy.model import Defaults
from audit.records import CheckRun, IntervalBasis, Metric, Verdict
from audit.stats import percentile_interval, wilson_interval

TODAY = datetime.date(2026, 1, 1)
GROUPS, CLASSES, N, P0 = 20, 5, 200, 0.3
RUNS, SEED = 300, 20260101
ALPHA = 0.05
RAN = (CheckRun("bias", "ran"),)
RULE = Rule(
    id="SIM-001",
    check="bias",
    metric="selection_rate",
    threshold={"op": "<=", "value": P0},
    on="ci_low",
    severity="blocker",
    rationale="No group's selection rate is clearly above the bound.",
)


def _policy(method: str) -> Policy:
    return Policy(
        name="sim",
        version="1",
        description="",
        defaults=Defaults(min_group_size=30, confidence=1 - ALPHA, multiple_comparisons=method),
        required_checks=(),
        rules=(RULE,),
        waivers=(),
        sha256="",
        text="",
    )


def _labels() -> list[tuple[str, str]]:
    return [(f"g{g}", f"class={c}") for c in range(CLASSES) for g in range(GROUPS)]


def _wilson_metrics(k: np.ndarray) -> list[Metric]:
    """One audit's family, as `audit.checks.bias` builds group rates (Wilson, with counts)."""
    low, high = wilson_interval(k, N, 1 - ALPHA)
    return [
        Metric(
            "bias",
            "selection_rate",
            k[i] / N,
            feature="f",
            group=g,
            method=c,
            n=N,
            ci_low=low[i],
            ci_high=high[i],
            interval=IntervalBasis("wilson", 1 - ALPHA, successes=int(k[i]), trials=N),
        )
        for i, (g, c) in enumerate(_labels())
    ]


def _bootstrap_metrics(k: np.ndarray, rng: np.random.Generator, n_boot: int) -> list[Metric]:
    """The same family with percentile bootstrap intervals (resampling each group's rows)."""
    draws = rng.binomial(N, k / N, size=(n_boot, k.size)) / N
    low, high = percentile_interval(draws, 1 - ALPHA, axis=0)
    return [
        Metric(
            "bias",
            "selection_rate",
            k[i] / N,
            feature="f",
            group=g,
            method=c,
            n=N,
            ci_low=low[i],
            ci_high=high[i],
            interval=IntervalBasis("percentile", 1 - ALPHA),
        )
        for i, (g, c) in enumerate(_labels())
    ]


def _flag_share(method: str, k: np.ndarray, build) -> float:
    """Share of simulated audits in which the rule failed (at least one flag)."""
    policy = _policy(method)
    failed = 0
    for row in k:
        _, verdict = judge(policy, build(row), RAN, today=TODAY)
        failed += verdict == Verdict.FAIL
    return failed / len(k)


def _se(p: float, runs: int) -> float:
    return math.sqrt(max(p, ALPHA) * (1 - max(p, ALPHA)) / runs)


@pytest.fixture(scope="module")
def null_counts() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return rng.binomial(N, P0, size=(RUNS, GROUPS * CLASSES))


def test_the_family_has_at_least_100_intervals(null_counts):
    findings, _ = judge(_policy("holm"), _wilson_metrics(null_counts[0]), RAN, today=TODAY)
    (m,) = {f.adjustment.family_size for f in findings}
    assert m == GROUPS * CLASSES >= 100
    assert all(f.adjustment.level == pytest.approx(1 - ALPHA / m) for f in findings)


@pytest.mark.parametrize("method", ["holm", "bonferroni", "bh"])
def test_no_true_gap_rarely_flags_under_control(null_counts, method):
    share = _flag_share(method, null_counts, _wilson_metrics)
    assert share <= ALPHA + 2 * _se(ALPHA, RUNS)


def test_no_true_gap_flags_most_audits_without_control(null_counts):
    share = _flag_share("none", null_counts, _wilson_metrics)
    # 100 one-sided 2.5% chances: about 1 - 0.975^100 = 0.92 of audits flag something
    assert share > 0.5 and share > ALPHA + 10 * _se(ALPHA, RUNS)


def test_bootstrap_intervals_are_controlled_too(null_counts):
    rng = np.random.default_rng(SEED + 1)
    runs = null_counts[:200]
    holm = _flag_share("holm", runs, lambda row: _bootstrap_metrics(row, rng, 400))
    none = _flag_share("none", runs, lambda row: _bootstrap_metrics(row, rng, 400))
    assert holm <= ALPHA + 2 * _se(ALPHA, len(runs))
    assert none > 0.5


def _detectable_gap() -> float:
    k = np.full(GROUPS * CLASSES, int(N * P0))
    findings, _ = judge(_policy("holm"), _wilson_metrics(k), RAN, today=TODAY)
    (gap,) = {f.detectable.gap for f in findings}
    return gap


def _gap_counts(gap: float) -> np.ndarray:
    """Null audits with one group's true rate `gap` above the bound."""
    rng = np.random.default_rng(SEED + 2)
    k = rng.binomial(N, P0, size=(RUNS, GROUPS * CLASSES))
    k[:, 7] = rng.binomial(N, P0 + gap, size=RUNS)
    return k


def test_a_gap_of_twice_the_detectable_difference_fails_the_rule():
    gap = _detectable_gap()
    share = _flag_share("holm", _gap_counts(2 * gap), _wilson_metrics)
    assert share >= 0.8


def test_the_detectable_difference_has_about_the_quoted_power():
    """At exactly the detectable gap, the power is about 0.8 (normal approximation)."""
    gap = _detectable_gap()
    share = _flag_share("holm", _gap_counts(gap), _wilson_metrics)
    assert abs(share - 0.8) <= 3 * math.sqrt(0.8 * 0.2 / RUNS) + 0.05
