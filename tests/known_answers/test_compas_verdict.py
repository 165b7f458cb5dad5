"""COMPAS under the `four-fifths` pack: the audit completes and fails (exit 1), not `error`.

Small groups (Native American, n = 11) are `insufficient_data`; they are listed beside the
failures, in the report's summary and in the CI summary, rather than turning a found failure
into "audit incomplete".
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from audit.checks.base import CheckContext, Predictions
from audit.checks.bias.check import BiasCheck
from audit.checks.bias.spec import BiasSpec
from audit.loaders.data import Dataset
from audit.policy import exit_code, judge, load_policy, summary_markdown
from audit.records import AuditResult, CheckRun, Provenance, Status, Verdict
from audit.report.context import summary
from tests.known_answers.test_compas import DATA, _propublica_filter

TODAY = datetime.date(2026, 1, 1)


@pytest.fixture(scope="module")
def result() -> AuditResult:
    frame = _propublica_filter(pd.read_csv(DATA))
    high = (frame["decile_score"] >= 5).to_numpy(dtype=np.int64)
    data = Dataset(
        x=np.zeros((len(frame), 1), dtype=np.float32),
        y=frame["two_year_recid"].to_numpy(dtype=np.int64),
        sensitive=frame[["race", "sex"]],
        modality="tabular",
    )
    policy = load_policy("four-fifths")
    ctx = CheckContext(
        model=None,
        data=data,
        predictions=Predictions(proba=np.column_stack([1 - high, high]).astype(float), label=high),
        config=BiasSpec(n_boot=200, intersections=False),
        seed=0,
        min_group_size=policy.defaults.min_group_size,
        confidence=policy.defaults.confidence,
    )
    metrics = BiasCheck().measure(ctx).metrics
    runs = (CheckRun("bias", "ran"),)
    findings, verdict = judge(policy, metrics, runs, today=TODAY)
    return AuditResult(
        name="compas",
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:00:01Z",
        verdict=verdict,
        policy=policy.info(),
        provenance=Provenance("m", "d", "s", policy.sha256, 0, {}),
        metrics=tuple(metrics),
        findings=findings,
        check_runs=runs,
    )


def _undersized(result: AuditResult) -> list:
    return [f for f in result.findings if f.status == Status.INSUFFICIENT_DATA]


def test_compas_under_four_fifths_fails_with_exit_1(result):
    assert result.verdict == Verdict.FAIL and exit_code(result.verdict) == 1
    assert any(f.status == Status.FAIL and f.severity.value == "blocker" for f in result.findings)


def test_the_undersized_groups_are_listed_beside_the_failure(result):
    small = {f.metric.group: f.metric.n for f in _undersized(result) if f.metric.group}
    assert small.get("Native American") == 11  # under the pack's minimum of 30
    text = summary(result, "COMPAS")["paragraph"]
    assert "could not be judged" in text
    for group, n in small.items():
        assert f"race={group}" in text and f"(n = {n})" in text
    markdown = summary_markdown(result)
    assert "could not be judged" in markdown and "race=Native American" in markdown


def test_every_judged_rule_states_its_family(result):
    for f in result.findings:
        if f.status in (Status.PASS, Status.FAIL, Status.WARN):
            assert f.adjustment is not None and f.adjustment.method == "holm"
            assert f.adjustment.family_size >= 1
    ff003 = [f for f in result.findings if f.rule == "FF-003" and f.adjustment is not None]
    assert ff003 and all(f.adjustment.level > 0.95 for f in ff003)
    assert all(f.adjustment.adjusted >= f.adjustment.raw for f in ff003)  # wider on ci_high
