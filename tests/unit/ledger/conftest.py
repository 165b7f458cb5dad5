"""Builders of small `AuditResult`s and a ledger in a temporary SQLite file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from audit.ledger import Ledger
from audit.records import (
    AuditResult,
    Finding,
    Metric,
    PolicyInfo,
    Provenance,
    Severity,
    Status,
    Threshold,
    Verdict,
)

DPR = "demographic_parity_ratio"


def dpr(value: float, lo: float, hi: float, n: int = 500) -> Metric:
    return Metric("bias", DPR, value, feature="sex", ci_low=lo, ci_high=hi, n=n)


def finding(metric: Metric, status: Status, rule: str = "FAIR-001") -> Finding:
    return Finding(
        rule=rule,
        check=metric.check,
        metric_name=metric.name,
        status=status,
        severity=Severity.BLOCKER,
        threshold=Threshold(">=", 0.8),
        message="",
        metric=metric,
    )


def make_result(
    metrics: Sequence[Metric],
    findings: Sequence[Finding] = (),
    *,
    name: str = "credit",
    verdict: Verdict = Verdict.PASS,
    model: str = "a" * 64,
) -> AuditResult:
    return AuditResult(
        name=name,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:01:00+00:00",
        verdict=verdict,
        policy=PolicyInfo("default", "1.0.0", "p" * 64),
        provenance=Provenance(model, "d" * 64, "s" * 64, "p" * 64, 0, {"torch": "2.13"}),
        metrics=tuple(metrics),
        findings=tuple(findings),
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        yield led
