"""A plain threshold rule on `<metric>_change_since_last_pass` gates a planted regression."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from audit.ledger import Ledger, regression_metrics
from audit.policy import judge, load_policy
from audit.records import CheckRun, Status, Verdict
from tests.unit.ledger.conftest import dpr, make_result

POLICY = """\
name: regression
version: "1.0.0"
rules:
  - id: FAIR-REG-001
    check: bias
    metric: demographic_parity_ratio_change_since_last_pass
    subject: {feature: sex}
    threshold: {op: ">=", value: -0.05}
    severity: blocker
    rationale: "Parity may not drop by more than 0.05 since the last passing audit."
"""
RAN = [CheckRun("bias", "ran")]


@pytest.fixture
def policy(tmp_path: Path):
    path = tmp_path / "regression.yaml"
    path.write_text(POLICY)
    return load_policy(path)


def _judge(policy, ledger: Ledger, now: float):
    base = ledger.previous("credit", passing_only=True)
    current = [dpr(now, now - 0.02, now + 0.02)]
    extra = regression_metrics(current, base.metrics) if base else []
    return judge(policy, [*current, *extra], RAN, today=dt.date(2026, 6, 1))


def test_a_planted_drop_fails(policy, ledger: Ledger) -> None:
    ledger.record(make_result([dpr(0.80, 0.78, 0.82)], verdict=Verdict.FAIL))  # not a baseline
    ledger.record(make_result([dpr(0.92, 0.90, 0.94)], verdict=Verdict.PASS))
    (finding,), verdict = _judge(policy, ledger, 0.85)
    assert finding.status is Status.FAIL and verdict is Verdict.FAIL
    assert finding.metric is not None and finding.metric.value == pytest.approx(-0.07)


def test_a_small_move_passes(policy, ledger: Ledger) -> None:
    ledger.record(make_result([dpr(0.92, 0.90, 0.94)], verdict=Verdict.PASS))
    (finding,), verdict = _judge(policy, ledger, 0.90)
    assert finding.status is Status.PASS and verdict is Verdict.PASS


def test_without_a_passing_baseline_the_rule_cannot_pass(policy, ledger: Ledger) -> None:
    """Fail-closed: no baseline means no regression metric, which never counts as a pass."""
    ledger.record(make_result([dpr(0.92, 0.90, 0.94)], verdict=Verdict.FAIL))
    (finding,), _ = _judge(policy, ledger, 0.95)
    assert finding.status is not Status.PASS
