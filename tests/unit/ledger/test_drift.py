"""Drift between audits and the regression metric a policy rule gates on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.ledger import (
    REGRESSION_SUFFIX,
    Ledger,
    drift,
    history_evidence,
    regression_metrics,
)
from audit.records import Metric, Status, Verdict
from tests.unit.ledger.conftest import DPR, dpr, finding, make_result


def test_disjoint_intervals_are_a_change() -> None:
    d = drift([dpr(0.70, 0.66, 0.74)], [dpr(0.90, 0.86, 0.94)])
    (item,) = d.changed
    assert item["metric"] == DPR and item["subject"] == "sex"
    assert item["previous"] == 0.90 and item["current"] == 0.70
    assert item["change"] == pytest.approx(-0.20)


def test_overlapping_intervals_are_noise() -> None:
    assert drift([dpr(0.88, 0.84, 0.92)], [dpr(0.90, 0.86, 0.94)]).changed == ()


def test_metrics_without_intervals_or_counterparts_are_not_compared() -> None:
    point = Metric("performance", "accuracy", 0.5)
    other = Metric("bias", DPR, 0.1, feature="race", ci_low=0.0, ci_high=0.2, n=50)
    assert drift([point, other], [Metric("performance", "accuracy", 0.9)]).changed == ()


def test_failures_that_came_and_went() -> None:
    m = dpr(0.7, 0.66, 0.74)
    now = [finding(m, Status.FAIL, "FAIR-001"), finding(m, Status.PASS, "FAIR-002")]
    then = [finding(m, Status.PASS, "FAIR-001"), finding(m, Status.ERROR, "FAIR-002")]
    d = drift([m], [m], now, then)
    assert [f["rule"] for f in d.new_failures] == ["FAIR-001"]
    assert [f["rule"] for f in d.fixed] == ["FAIR-002"]
    assert d.new_failures[0]["status"] == "fail"


def test_regression_metric_on_a_planted_drop() -> None:
    (reg,) = regression_metrics([dpr(0.84, 0.8, 0.88, n=400)], [dpr(0.92, 0.9, 0.94, n=500)])
    assert reg.name == DPR + REGRESSION_SUFFIX
    assert reg.value == pytest.approx(-0.08)
    assert (reg.check, reg.feature, reg.n) == ("bias", "sex", 400)
    assert reg.ci_low is None


def test_regression_metrics_keep_every_subject_key() -> None:
    """A head's change stays that head's (the circuits check's `layer` and `head` keys)."""
    heads = [
        Metric("circuits", "head_ablation_effect", v, probe="tag", layer=1, head=h, n=64)
        for h, v in ((0, 0.4), (1, 0.1))
    ]
    before = [
        Metric("circuits", "head_ablation_effect", 0.1, probe="tag", layer=1, head=h, n=64)
        for h in (0, 1)
    ]
    changes = {(m.layer, m.head): m.value for m in regression_metrics(heads, before)}
    assert changes == {(1, 0): pytest.approx(0.3), (1, 1): pytest.approx(0.0)}


def test_regression_metrics_do_not_chain() -> None:
    base = [dpr(0.9, 0.8, 1.0), *regression_metrics([dpr(0.9, 0.8, 1.0)], [dpr(0.9, 0.8, 1.0)])]
    names = [m.name for m in regression_metrics(base, base)]
    assert names == [DPR + REGRESSION_SUFFIX]


@given(
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
)
def test_regression_is_current_minus_baseline(now: float, then: float) -> None:
    (reg,) = regression_metrics([dpr(now, 0, 1)], [dpr(then, 0, 1)])
    assert reg.value == pytest.approx(now - then)


def test_drift_through_the_ledger(ledger: Ledger) -> None:
    """A planted drop since the last passing audit shows as a change and a new failure."""
    good = dpr(0.92, 0.90, 0.94)
    ledger.record(make_result([good], [finding(good, Status.PASS)], verdict=Verdict.PASS))
    bad = dpr(0.70, 0.66, 0.74)
    base = ledger.previous("credit", passing_only=True)
    assert base is not None
    d = drift([bad], base.metrics, [finding(bad, Status.FAIL)], base.findings)
    evidence = history_evidence(base, d)
    assert evidence["previous"]["seq"] == base.seq
    assert [c["metric"] for c in evidence["changed"]] == [DPR]
    assert [f["rule"] for f in evidence["new_failures"]] == ["FAIR-001"]
    assert evidence["fixed"] == []
    (reg,) = regression_metrics([bad], base.metrics)
    assert reg.value == pytest.approx(-0.22)
