"""Groups below the minimum size are measured, carry their n, and size every aggregate over
their feature, so the policy reports those as insufficient data; only the policy's explicit
`small_groups: exclude` leaves a group out, and then the check declares it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from bias_helpers import find, make_context

from audit.checks.bias.check import BiasCheck
from audit.records import EXCLUDED_SHARE

AGGREGATES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
)
JUSTIFICATION = "the group is under 2% of the applicants, as 6 RCNY 5-301(d) allows"


def _data():
    rng = np.random.default_rng(0)
    group = np.array(["big1"] * 200 + ["big2"] * 150 + ["tiny"] * 6)
    y = rng.integers(0, 2, group.size)
    pred = rng.integers(0, 2, group.size)
    pred[group == "tiny"] = 1  # the tiny group would dominate a max-min spread
    return y, pred, group


def _measure(min_group_size=30, exclude=None, group=None):
    y, pred, default = _data()
    ctx = make_context(
        y, pred, {"g": default if group is None else group}, min_group_size=min_group_size,
        n_boot=50,
    )  # fmt: skip
    if exclude is not None:
        ctx = dataclasses.replace(ctx, exclude_small_groups=(exclude, JUSTIFICATION))
    return BiasCheck().measure(ctx)


def test_small_group_is_reported_with_its_n():
    out = _measure()
    tiny = find(out.metrics, "selection_rate", "g", "tiny")
    assert tiny.value == 1.0 and tiny.n == 6
    assert find(out.metrics, "impact_ratio", "g", "tiny").n == 6
    sentence = [s for s in out.evidence.sentences if "too few to judge" in s]
    assert sentence == [
        "In \u2068g\u2069, 1 group has fewer than 30 rows, too few to judge, so rules on "
        "them and on the feature's aggregates are reported as insufficient data: "
        "\u2068tiny\u2069 (n=6)."
    ]


@pytest.mark.parametrize("name", AGGREGATES)
def test_aggregates_span_every_group_and_carry_the_smallest_n(name):
    """A one-in-sixty group is inside every aggregate, so none can pass on the big groups."""
    out = _measure()
    assert find(out.metrics, name, "g").n == 6
    assert find(out.metrics, "minimum_detectable_difference", "g").n == 6
    assert not [m for m in out.metrics if m.name == EXCLUDED_SHARE]


def test_aggregate_value_includes_the_small_group():
    out = _measure()
    rates = [find(out.metrics, "selection_rate", "g", g).value for g in ("big1", "big2", "tiny")]
    dp = find(out.metrics, "demographic_parity_difference", "g")
    assert dp.value == max(rates) - min(rates) and max(rates) == 1.0


def test_impact_ratio_reference_is_a_group_of_the_minimum_size():
    """tiny is the most selected (rate 1.0, n = 6); the ratios compare with big1 or big2."""
    out = _measure()
    rates = {g: find(out.metrics, "selection_rate", "g", g).value for g in ("big1", "big2")}
    top = max(rates.values())
    for g, rate in rates.items():
        assert find(out.metrics, "impact_ratio", "g", g).value == pytest.approx(rate / top)
    assert find(out.metrics, "impact_ratio", "g", "tiny").value == pytest.approx(1.0 / top)


def test_exclusion_leaves_out_groups_under_the_share_and_declares_them():
    out = _measure(exclude=0.02)  # tiny is 6 of 356 rows = 1.7%
    (declared,) = [m for m in out.metrics if m.name == EXCLUDED_SHARE]
    assert (declared.feature, declared.group, declared.n) == ("g", "tiny", 6)
    assert declared.value == pytest.approx(6 / 356, abs=1e-15)
    rates = [find(out.metrics, "selection_rate", "g", g).value for g in ("big1", "big2")]
    dp = find(out.metrics, "demographic_parity_difference", "g")
    assert dp.value == max(rates) - min(rates)
    assert dp.n == 150  # the smallest group the aggregate spans
    # The excluded group is still measured (LL144 publishes its count and rate) ...
    assert find(out.metrics, "selection_rate", "g", "tiny").value == 1.0
    # ... and its impact ratio is against the most-selected group among the others.
    top = max(rates)
    assert find(out.metrics, "impact_ratio", "g", "tiny").value == pytest.approx(1.0 / top)
    assert out.evidence.justification == JUSTIFICATION
    (sentence,) = [s for s in out.evidence.sentences if "left out" in s]
    assert "\u2068tiny\u2069 (n=6, 1.69%)" in sentence
    assert not [s for s in out.evidence.sentences if "too few to judge" in s]


def test_exclusion_above_every_group_share_excludes_nothing():
    out = _measure(exclude=0.01)
    assert not [m for m in out.metrics if m.name == EXCLUDED_SHARE]
    assert find(out.metrics, "demographic_parity_difference", "g").n == 6


def test_exclusion_never_leaves_fewer_than_two_groups():
    """98% / 2% split under a 3% limit: excluding would leave one group, so nothing is left
    out and the aggregate carries the small group's n (insufficient data, not a vanished row)."""
    group = np.array(["big"] * 349 + ["tiny"] * 7)
    out = _measure(exclude=0.03, group=group)
    assert not [m for m in out.metrics if m.name == EXCLUDED_SHARE]
    assert find(out.metrics, "demographic_parity_ratio", "g").n == 7


def test_unknown_category_is_counted_for_every_feature():
    group = np.array(["a"] * 100 + ["b"] * 100 + [None] * 3, dtype=object)
    ctx = make_context(
        np.zeros(203, int), np.ones(203, int), {"g": group, "h": ["x", "y"] * 101 + ["x"]}
    )
    out = BiasCheck().measure(ctx)
    g, h = (find(out.metrics, "unknown_count", f) for f in ("g", "h"))
    assert (g.value, g.n) == (3, 203)
    assert (h.value, h.n) == (0, 203)
    assert find(out.metrics, "count", "g", "(missing)").value == 3


def test_single_group_feature_has_no_aggregate():
    out = BiasCheck().measure(make_context([0, 1, 1], [0, 1, 0], {"g": ["a", "a", "a"]}))
    assert not [m for m in out.metrics if m.name in AGGREGATES]
    assert not [m for m in out.metrics if m.name == "impact_ratio"]
