"""Groups below the minimum size are measured, carry their n, and stay out of the aggregates."""

from __future__ import annotations

import numpy as np
from bias_helpers import find, make_context

from audit.checks.bias.check import BiasCheck


def _data():
    rng = np.random.default_rng(0)
    group = np.array(["big1"] * 200 + ["big2"] * 150 + ["tiny"] * 6)
    y = rng.integers(0, 2, group.size)
    pred = rng.integers(0, 2, group.size)
    pred[group == "tiny"] = 1  # the tiny group would dominate a max-min spread
    return y, pred, group


def test_small_group_is_reported_with_its_n():
    y, pred, group = _data()
    out = BiasCheck().measure(make_context(y, pred, {"g": group}, min_group_size=30, n_boot=50))
    tiny = find(out.metrics, "selection_rate", "g", "tiny")
    assert tiny.value == 1.0 and tiny.n == 6
    assert find(out.metrics, "impact_ratio", "g", "tiny").n == 6
    sentence = [s for s in out.evidence.sentences if "too few to judge" in s]
    assert sentence == [
        "In \u2068g\u2069, 1 group has fewer than 30 rows, too few to judge, so rules on "
        "them are reported as insufficient data: \u2068tiny\u2069 (n=6)."
    ]


def test_aggregates_span_only_large_groups():
    y, pred, group = _data()
    out = BiasCheck().measure(make_context(y, pred, {"g": group}, min_group_size=30, n_boot=50))
    rates = [find(out.metrics, "selection_rate", "g", g).value for g in ("big1", "big2")]
    dp = find(out.metrics, "demographic_parity_difference", "g")
    assert dp.value == max(rates) - min(rates)
    assert dp.n == 150  # the smallest group used


def test_fewer_than_two_large_groups_reports_small_n():
    """Aggregates fall back to all groups but say how small they are: the policy cannot pass it."""
    y, pred, group = _data()
    out = BiasCheck().measure(make_context(y, pred, {"g": group}, min_group_size=160, n_boot=50))
    dp = find(out.metrics, "demographic_parity_difference", "g")
    assert dp.n == 6
    assert dp.value == 1.0 - min(
        find(out.metrics, "selection_rate", "g", g).value for g in ("big1", "big2")
    )


def test_single_group_feature_has_no_aggregate():
    out = BiasCheck().measure(make_context([0, 1, 1], [0, 1, 0], {"g": ["a", "a", "a"]}))
    assert not [m for m in out.metrics if m.group is None]
    assert not [m for m in out.metrics if m.name == "impact_ratio"]
