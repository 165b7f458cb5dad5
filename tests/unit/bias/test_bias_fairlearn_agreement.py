"""Property: on random data our group rates and aggregates equal fairlearn's on the raw rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from bias_helpers import find, make_context
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checks.bias.check import BiasCheck

RATES = {
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "accuracy": skm.accuracy_score,
}
AGGREGATES = {
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equalized_odds_difference": equalized_odds_difference,
    "equalized_odds_ratio": equalized_odds_ratio,
    "equal_opportunity_difference": equal_opportunity_difference,
}


@st.composite
def tables(draw):
    n = draw(st.integers(8, 120))
    seed = draw(st.integers(0, 2**32 - 1))
    levels = draw(st.integers(1, 4))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < draw(st.floats(0, 1)), y, rng.integers(0, 2, n))
    group = rng.choice([f"g{i}" for i in range(levels)], n)
    return y, pred, group


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(tables())
def test_group_rates_equal_fairlearn(table):
    y, pred, group = table
    metrics = BiasCheck().measure(make_context(y, pred, {"s": group}, n_boot=0)).metrics
    frame = MetricFrame(metrics=RATES, y_true=y, y_pred=pred, sensitive_features=group)
    for g in np.unique(group):
        mask = group == g
        for name in RATES:
            ours = [m for m in metrics if m.name == name and m.group == g]
            defined = {
                "true_positive_rate": y[mask].any(),
                "false_negative_rate": y[mask].any(),
                "false_positive_rate": (y[mask] == 0).any(),
            }.get(name, True)
            # fairlearn says 0 for a rate with an empty denominator; we omit it.
            assert len(ours) == int(defined)
            if defined:
                assert ours[0].value == pytest.approx(frame.by_group.loc[g, name], abs=1e-12)
        precision = [m for m in metrics if m.name == "precision" and m.group == g]
        if pred[mask].any():
            expected = skm.precision_score(y[mask], pred[mask])
            assert precision[0].value == pytest.approx(expected, abs=1e-12)
        else:
            assert precision == []


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(tables())
def test_aggregates_equal_fairlearn_when_every_rate_is_defined(table):
    y, pred, group = table
    metrics = BiasCheck().measure(make_context(y, pred, {"s": group}, n_boot=0)).metrics
    groups = np.unique(group)
    if groups.size < 2:
        assert not [m for m in metrics if m.group is None and m.name in AGGREGATES]
        return
    every_defined = all((y[group == g] == 1).any() and (y[group == g] == 0).any() for g in groups)
    for name, function in AGGREGATES.items():
        expected = function(y, pred, sensitive_features=group)
        hits = [m for m in metrics if m.name == name and m.group is None]
        if name.startswith("demographic") or every_defined:
            if np.isfinite(expected):
                assert find(metrics, name, "s").value == pytest.approx(expected, abs=1e-12)
            else:
                assert hits == []  # undefined ratio (no one selected): omitted, not invented


def test_intersection_equals_fairlearn_on_two_columns():
    rng = np.random.default_rng(8)
    n = 500
    y, pred = rng.integers(0, 2, n), rng.integers(0, 2, n)
    sensitive = {"sex": rng.choice(["F", "M"], n), "race": rng.choice(["a", "b", "c"], n)}
    metrics = BiasCheck().measure(make_context(y, pred, sensitive, n_boot=0)).metrics
    frame = MetricFrame(
        metrics=RATES,
        y_true=y,
        y_pred=pred,
        sensitive_features=pd.DataFrame(sensitive),
    )
    for (sex, race), row in frame.by_group.iterrows():
        for name in RATES:
            ours = find(metrics, name, "sex*race", f"{sex}*{race}")
            assert ours.value == pytest.approx(row[name], abs=1e-12)
    expected = frame.difference()["selection_rate"]
    assert find(metrics, "demographic_parity_difference", "sex*race").value == pytest.approx(
        expected, abs=1e-12
    )
