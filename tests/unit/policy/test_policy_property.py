"""Properties of the gate: nothing blocking ever passes, and every pass is earned."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from audit.policy import Policy, Rule, exit_code, judge, verdict_of
from audit.policy.evaluate import FAIL_ON
from audit.policy.model import Defaults
from audit.records import (
    BLOCKING_STATUSES,
    CheckRun,
    Finding,
    Metric,
    Severity,
    Status,
    Verdict,
)

_STRICTNESS = {"blocker": 0, "major": 1, "minor": 2, "warn": 3}
# A failure found outranks an audit that could not judge everything (fail beats error).
_BAD = {Verdict.PASS: 0, Verdict.ERROR: 1, Verdict.FAIL: 2}

findings_st = st.lists(
    st.builds(
        lambda status, severity: Finding("R", "bias", "m", status, severity, None, ""),
        st.sampled_from(list(Status)),
        st.sampled_from(list(Severity)),
    ),
    max_size=12,
)


@given(findings_st, st.sampled_from(FAIL_ON))
def test_a_blocker_that_failed_or_errored_never_passes(findings, fail_on):
    verdict = verdict_of(findings, fail_on)
    if any(f.severity == Severity.BLOCKER and f.status in BLOCKING_STATUSES for f in findings):
        assert verdict != Verdict.PASS and exit_code(verdict) != 0
    unjudged = (Status.ERROR, Status.INSUFFICIENT_DATA)
    if any(f.severity == Severity.BLOCKER and f.status == Status.FAIL for f in findings):
        assert verdict == Verdict.FAIL and exit_code(verdict) == 1
    elif any(f.severity == Severity.BLOCKER and f.status in unjudged for f in findings):
        assert verdict in (Verdict.ERROR, Verdict.FAIL) and exit_code(verdict) != 0


@given(findings_st, st.sampled_from(FAIL_ON), st.sampled_from(FAIL_ON))
def test_a_stricter_gate_never_gives_a_better_verdict(findings, a, b):
    lenient, strict = sorted((a, b), key=_STRICTNESS.__getitem__)
    assert _BAD[verdict_of(findings, strict)] >= _BAD[verdict_of(findings, lenient)]


RULE = Rule(
    id="FAIR-001",
    check="bias",
    metric="demographic_parity_ratio",
    threshold={"op": ">=", "value": 0.8, "warn": 0.9},
    on="ci_low",
    severity="blocker",
    rationale="r",
)
POLICY = Policy(
    name="p",
    version="1",
    description="",
    defaults=Defaults(min_group_size=30),
    required_checks=("bias",),
    rules=(RULE,),
    waivers=(),
    sha256="",
    text="",
)

metric_st = st.builds(
    lambda name, value, low, n, feature: Metric(
        "bias",
        name,
        value,
        feature=feature,
        ci_low=low,
        ci_high=None if low is None else value,
        n=n,
    ),
    st.sampled_from(["demographic_parity_ratio", "selection_rate"]),
    st.floats(0, 1),
    st.none() | st.floats(0, 1),
    st.none() | st.integers(0, 100),
    st.sampled_from(["sex", None]),
)
runs_st = st.lists(
    st.builds(
        CheckRun,
        st.sampled_from(["bias", "robustness"]),
        st.sampled_from(["ran", "skipped", "error"]),
    ),
    max_size=2,
    unique_by=lambda r: r.check,
)


@given(st.lists(metric_st, max_size=6), runs_st)
def test_every_pass_is_earned(metrics, runs):
    findings, verdict = judge(POLICY, metrics, runs, today=datetime.date(2026, 1, 1))
    assert any(f.rule == "FAIR-001" for f in findings)
    for f in findings:
        if f.status in (Status.PASS, Status.WARN):
            m = f.metric
            assert m is not None and m.check == "bias" and m.name == RULE.metric
            assert m.ci_low is not None and m.ci_low >= 0.8
            assert m.n is not None or (m.feature is None and m.group is None)
            assert m.n is None or m.n >= 30
    if verdict == Verdict.PASS:
        assert all(f.status in (Status.PASS, Status.WARN) for f in findings)
        assert exit_code(verdict) == 0
    else:
        assert exit_code(verdict) in (1, 2)
