"""Hand-computed answers on a 20-row table, and the same numbers from fairlearn's functions."""

from __future__ import annotations

import re

import numpy as np
import pytest
from bias_helpers import find, make_context
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    equalized_odds_ratio,
)

from audit.checks.bias.check import BiasCheck

# Group A: tp=3 fn=1 fp=1 tn=5.  Group B: tp=1 fn=1 fp=2 tn=6.
Y_A, Y_B = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
PRED_A, PRED_B = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0], [1, 0, 1, 1, 0, 0, 0, 0, 0, 0]
Y, PRED = [*Y_A, *Y_B], [*PRED_A, *PRED_B]
GROUP = ["A"] * 10 + ["B"] * 10
# 0.75 for a predicted positive, 0.25 otherwise: ECE_A = 0.5 / 10, ECE_B = 2.0 / 10.
P1 = np.where(np.array(PRED) == 1, 0.75, 0.25)

EXPECTED = {
    "A": {
        "selection_rate": 4 / 10,
        "true_positive_rate": 3 / 4,
        "false_positive_rate": 1 / 6,
        "false_negative_rate": 1 / 4,
        "precision": 3 / 4,
        "accuracy": 8 / 10,
        "count": 10,
        "impact_ratio": 1.0,
        "expected_calibration_error": 0.05,
    },
    "B": {
        "selection_rate": 3 / 10,
        "true_positive_rate": 1 / 2,
        "false_positive_rate": 2 / 8,
        "false_negative_rate": 1 / 2,
        "precision": 1 / 3,
        "accuracy": 7 / 10,
        "count": 10,
        "impact_ratio": 0.75,
        "expected_calibration_error": 0.2,
    },
}
AGGREGATES = {
    "demographic_parity_difference": (0.1, demographic_parity_difference),
    "demographic_parity_ratio": (0.75, demographic_parity_ratio),
    "equalized_odds_difference": (0.25, equalized_odds_difference),
    "equalized_odds_ratio": (2 / 3, equalized_odds_ratio),
    "equal_opportunity_difference": (0.25, equal_opportunity_difference),
}


@pytest.fixture(scope="module")
def metrics():
    ctx = make_context(
        Y, PRED, {"g": GROUP}, proba=np.column_stack([1 - P1, P1]), min_group_size=5, n_boot=200
    )
    return BiasCheck().measure(ctx).metrics


@pytest.mark.parametrize("group", ["A", "B"])
def test_group_metrics_by_hand(metrics, group):
    for name, value in EXPECTED[group].items():
        metric = find(metrics, name, "g", group)
        assert metric.value == pytest.approx(value, abs=1e-12), name
        assert metric.n == 10


@pytest.mark.parametrize("name", list(AGGREGATES))
def test_aggregates_by_hand_and_by_fairlearn(metrics, name):
    hand, function = AGGREGATES[name]
    metric = find(metrics, name, "g")
    assert metric.value == pytest.approx(hand, abs=1e-12)
    assert metric.value == pytest.approx(function(Y, PRED, sensitive_features=GROUP), abs=1e-12)
    assert metric.n == 10
    assert metric.ci_low <= metric.ci_high


def test_rates_carry_wilson_intervals(metrics):
    metric = find(metrics, "true_positive_rate", "g", "A")
    assert metric.ci_low == pytest.approx(0.3006, abs=1e-4)  # Wilson 3/4 at 95%
    assert metric.ci_high == pytest.approx(0.9544, abs=1e-4)


def test_every_metric_is_bias_and_finite(metrics):
    assert {m.check for m in metrics} == {"bias"}
    assert all(np.isfinite(m.value) for m in metrics)
    assert all(m.n is not None for m in metrics)


def test_plain_language_sentences():
    """Names from the data sit inside bidi isolates (U+2068 … U+2069)."""
    ctx = make_context(Y, PRED, {"g": GROUP}, min_group_size=5, n_boot=200)
    text = BiasCheck().measure(ctx).evidence.sentences
    assert re.fullmatch(
        "In \u2068g\u2069, the group \u2068B\u2069 was selected at "
        r"0\.75 times the rate of "
        "\u2068A\u2069"
        r" \(95% CI "
        r"\d\.\d\d–\d\.\d\d; selection rates 30\.0% and 40\.0%\)\.",
        text[0],
    )
    assert text[1] == (
        "In \u2068g\u2069, false positive rates range from 16.7% (\u2068A\u2069) to 25.0% "
        "(\u2068B\u2069); false negative rates range from 25.0% (\u2068A\u2069) to 50.0% "
        "(\u2068B\u2069)."
    )
