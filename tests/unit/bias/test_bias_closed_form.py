"""Property: the closed-form group rates equal fairlearn's MetricFrame to 1e-12.

Random count tables with empty cells, single-class groups, groups nobody was predicted
positive in and groups with no rows at all. Where a rate's denominator is zero fairlearn says
0 (sklearn normalises an empty confusion-matrix row to zeros; precision warns and says 0);
the closed form says NaN and the check omits the metric. The tests pin both behaviours.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from fairlearn.metrics import MetricFrame
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from audit.checks.bias._fairlearn_frame import FAIRLEARN_METRICS
from audit.checks.bias._fairlearn_frame import group_rates as fairlearn_rates
from audit.checks.bias._rates import RATE_NAMES, group_rates, rate_parts

# Counts per group in the order tp, fp, fn, tn; small values make zeros common.
TABLES = st.integers(1, 12).flatmap(
    lambda g: arrays(np.int64, (g, 4), elements=st.sampled_from([0, 0, 0, 1, 2, 3, 7, 40]))
)
_TRUE = np.array([1, 0, 1, 0])
_PRED = np.array([1, 1, 0, 0])


def _rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The raw rows a count table stands for: (group, y_true, y_pred)."""
    group, cell = np.nonzero(counts)
    reps = counts[group, cell]
    return np.repeat(group, reps), np.repeat(_TRUE[cell], reps), np.repeat(_PRED[cell], reps)


def _raw_metrics() -> dict:
    """fairlearn's metrics with sklearn's precision at its default (0 with a warning)."""
    return {**FAIRLEARN_METRICS, "precision": skm.precision_score}


@settings(max_examples=200, deadline=None)
@given(TABLES)
def test_closed_form_equals_fairlearn_reference(counts):
    assume(counts.sum() > 0)  # fairlearn refuses a table without rows; the check never has one
    ours = group_rates(*counts.T)
    theirs = fairlearn_rates(*counts.T)
    for name in RATE_NAMES:
        assert np.array_equal(np.isnan(ours[name]), np.isnan(theirs[name])), name
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=1e-12, err_msg=name)


@settings(max_examples=100, deadline=None)
@given(TABLES)
def test_closed_form_equals_metricframe_on_raw_rows(counts):
    assume(counts.sum() > 0)
    group, y, pred = _rows(counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's zero-division warning for precision
        frame = MetricFrame(
            metrics=_raw_metrics(), y_true=y, y_pred=pred, sensitive_features=pd.Series(group)
        )
    ours = group_rates(*counts.T)
    parts = rate_parts(*counts.T)
    for g in np.unique(group):
        for name in RATE_NAMES:
            expected = frame.by_group.loc[g, name]
            if parts[name][1][g] == 0:
                assert np.isnan(ours[name][g])
                assert expected == 0.0  # fairlearn's convention for a rate over no rows
            else:
                assert ours[name][g] == pytest.approx(expected, abs=1e-12)


def test_group_without_rows_has_no_rate():
    counts = np.array([[3, 1, 0, 2], [0, 0, 0, 0]])
    ours = group_rates(*counts.T)
    assert all(np.isnan(ours[name][1]) for name in RATE_NAMES)
    assert ours["selection_rate"][0] == pytest.approx(4 / 6, abs=1e-15)


def test_single_class_group_keeps_its_defined_rates():
    """Only negatives, all predicted negative: selection rate 0 and FPR 0, TPR and FNR undefined."""
    ours = group_rates(*np.array([[0, 0, 0, 5]]).T)
    assert ours["selection_rate"][0] == 0.0 and ours["false_positive_rate"][0] == 0.0
    assert ours["accuracy"][0] == 1.0
    for name in ("true_positive_rate", "false_negative_rate", "precision"):
        assert np.isnan(ours[name][0])
