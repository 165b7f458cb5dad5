"""The count bootstrap: fairlearn's point estimates, fairlearn's intervals, honest coverage."""

from __future__ import annotations

import numpy as np
import pytest
from bias_helpers import find, make_context
from fairlearn.metrics import MetricFrame, selection_rate

from audit.checks.bias._bootstrap import Target, bootstrap_intervals
from audit.checks.bias._groups import Scope
from audit.checks.bias._rates import aggregates, confusion_table, one_vs_rest
from audit.checks.bias.check import BiasCheck


def _two_groups(rng, n, rates):
    group = np.repeat(np.arange(len(rates)), n)
    pred = (rng.random(group.size) < np.repeat(rates, n)).astype(np.int64)
    y = (rng.random(group.size) < 0.5).astype(np.int64)
    return y, pred, group


def _target(groups):
    scope = Scope("g", ("g",), np.arange(groups), tuple(map(str, range(groups))))
    return Target(scope, 1, np.ones(groups, dtype=bool), np.ones(groups, dtype=bool))


def test_statistic_at_the_observed_counts_is_fairlearns_point_estimate():
    rng = np.random.default_rng(2)
    y, pred, group = _two_groups(rng, 300, [0.3, 0.45])
    table = confusion_table(group, y, pred, 2, 2)
    everyone = np.ones(2, dtype=bool)
    values, impact = aggregates(*one_vs_rest(table, 1), everyone, everyone)
    frame = MetricFrame(metrics=selection_rate, y_true=y, y_pred=pred, sensitive_features=group)
    assert values["demographic_parity_difference"] == pytest.approx(frame.difference())
    assert values["demographic_parity_ratio"] == pytest.approx(frame.ratio())
    assert impact.min() == pytest.approx(frame.ratio())


def test_bootstrap_coverage_of_a_known_difference():
    """The 95% interval of a demographic parity difference covers the true 0.15 about 95% of the
    time (Monte Carlo tolerance: 300 simulated datasets)."""
    rng = np.random.default_rng(9)
    covered = []
    for _ in range(300):
        y, pred, group = _two_groups(rng, 400, [0.3, 0.45])
        table = confusion_table(group, y, pred, 2, 2)
        (ci,) = bootstrap_intervals(
            {"g": table}, [_target(2)], n_boot=400, confidence=0.95, rng=rng
        )
        low = ci.aggregate_low["demographic_parity_difference"]
        high = ci.aggregate_high["demographic_parity_difference"]
        covered.append(low <= 0.15 <= high)
    assert abs(np.mean(covered) - 0.95) < 0.04


@pytest.mark.slow
def test_intervals_agree_with_fairlearn_metricframe_bootstrap():
    """Same quantity as MetricFrame(n_boot=...), within the Monte Carlo error of its 100
    resamples (about a quarter of the interval's width for a 2.5% quantile)."""
    rng = np.random.default_rng(5)
    y, pred, group = _two_groups(rng, 500, [0.35, 0.5])
    labels = np.array(["a", "b"])[group]
    frame = MetricFrame(
        metrics=selection_rate,
        y_true=y,
        y_pred=pred,
        sensitive_features=labels,
        n_boot=100,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    metrics = BiasCheck().measure(make_context(y, pred, {"g": labels}, n_boot=2000)).metrics
    for name, point, ci in (
        ("demographic_parity_difference", frame.difference(), frame.difference_ci()),
        ("demographic_parity_ratio", frame.ratio(), frame.ratio_ci()),
    ):
        ours = find(metrics, name, "g")
        assert ours.value == pytest.approx(point, abs=1e-12)
        tolerance = 0.3 * (ours.ci_high - ours.ci_low)
        assert ours.ci_low == pytest.approx(ci[0], abs=tolerance)
        assert ours.ci_high == pytest.approx(ci[1], abs=tolerance)
