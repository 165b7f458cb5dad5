"""Multiclass one-vs-rest metrics, and calibration error by group."""

from __future__ import annotations

import numpy as np
import pytest
from bias_helpers import find, make_context
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate

from audit.checks.bias.check import BiasCheck


@pytest.fixture(scope="module")
def multiclass():
    rng = np.random.default_rng(4)
    n = 600
    proba = rng.dirichlet(np.ones(3), size=n)
    y = np.array([rng.choice(3, p=p) for p in proba])
    pred = proba.argmax(axis=1)
    group = rng.choice(["u", "v"], size=n)
    ctx = make_context(y, pred, {"g": group}, proba=proba, n_boot=50)
    return y, pred, group, proba, BiasCheck().measure(ctx).metrics


@pytest.mark.parametrize("k", [0, 1, 2])
def test_one_vs_rest_matches_fairlearn(multiclass, k):
    y, pred, group, _, metrics = multiclass
    frame = MetricFrame(
        metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate},
        y_true=(y == k).astype(int),
        y_pred=(pred == k).astype(int),
        sensitive_features=group,
    )
    for g in ("u", "v"):
        for name in ("selection_rate", "true_positive_rate"):
            metric = find(metrics, name, "g", g, method=f"class={k}")
            assert metric.value == pytest.approx(frame.by_group.loc[g, name], abs=1e-12)
    assert find(metrics, "demographic_parity_difference", "g", method=f"class={k}").value == (
        pytest.approx(frame.difference()["selection_rate"], abs=1e-12)
    )


def test_count_is_given_once_per_group(multiclass):
    metrics = multiclass[-1]
    counts = [m for m in metrics if m.name == "count"]
    assert sorted(m.group for m in counts) == ["u", "v"]
    assert all(m.method is None for m in counts)


@pytest.mark.parametrize("k", [0, 2])
def test_calibration_error_matches_direct_computation(multiclass, k):
    y, _, group, proba, metrics = multiclass
    for g in ("u", "v"):
        p, hit = proba[group == g, k], (y[group == g] == k)
        bins = np.minimum((p * 10).astype(int), 9)
        ece = sum(abs(p[bins == b].sum() - hit[bins == b].sum()) for b in range(10)) / p.size
        metric = find(metrics, "expected_calibration_error", "g", g, method=f"class={k}")
        assert metric.value == pytest.approx(ece, abs=1e-12)


def test_perfect_calibration_has_zero_error():
    y = np.array([0, 1, 1, 1, 0, 0, 0, 0])
    p1 = np.array([0.75, 0.75, 0.75, 0.75, 0.0, 0.0, 0.0, 0.0])
    ctx = make_context(y, (p1 >= 0.5).astype(int), {"g": ["a"] * 8}, proba=np.c_[1 - p1, p1])
    assert find(BiasCheck().measure(ctx).metrics, "expected_calibration_error", "g", "a").value == 0
