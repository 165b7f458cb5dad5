"""Outcome metrics: rates in [0, 1] inside their intervals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checks.robustness._common import PerturbationSample, outcome_metrics, sample_rows
from audit.checks.robustness.adversarial import epsilon_curve, median_with_interval


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.integers(2, 4), st.integers(0, 2**32 - 1))
def test_rates_are_bounded_and_inside_their_intervals(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, pred, after = (rng.integers(0, k, n) for _ in range(3))
    sample = PerturbationSample(
        index=np.arange(n), x=np.zeros((n, 1)), y=y, proba=np.zeros((n, k)), pred=pred
    )
    by_name = {m.name: m for m in outcome_metrics(sample, after, 0.95, perturbation="p", level=1)}
    for name in ("accuracy", "flip_rate"):
        m = by_name[name]
        assert 0 <= m.ci_low <= m.value <= m.ci_high <= 1 and m.n == n
    assert by_name["flip_rate"].value == pytest.approx((after != pred).mean())
    clean = (pred == y).mean()
    if clean > 0:
        assert by_name["accuracy_ratio"].value == pytest.approx((after == y).mean() / clean)
    else:
        assert "accuracy_ratio" not in by_name


def test_sample_is_seeded_sorted_and_without_repeats() -> None:
    a, b = sample_rows(1000, 100, 3), sample_rows(1000, 100, 3)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 100 and (np.diff(a) > 0).all()
    assert not np.array_equal(a, sample_rows(1000, 100, 4))
    np.testing.assert_array_equal(sample_rows(50, 100, 0), np.arange(50))


def test_epsilon_curve_counts_censored_examples_as_robust() -> None:
    eps = np.array([0.1, 0.3, np.nan, 0.05])
    correct = np.array([True, True, True, False])
    grid, acc = epsilon_curve(eps, correct, 1.0)
    assert acc[0] == 0.75  # clean accuracy at ε = 0
    assert acc[grid.tolist().index(0.2)] == 0.5
    assert acc[-1] == 0.25


def test_median_interval_brackets_the_median() -> None:
    values = np.random.default_rng(0).exponential(size=101)
    median, lo, hi = median_with_interval(values, 0.95)
    assert lo < median < hi
    assert median_with_interval(np.array([1.0, 2.0, 3.0]), 0.95)[1:] == (None, None)
