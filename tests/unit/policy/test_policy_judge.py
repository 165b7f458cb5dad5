"""Judging: every status is reachable, waivers expire, and every missing metric fails closed."""

from __future__ import annotations

import datetime

import pytest
from policy_helpers import metric, rule_yaml

from audit.policy import exit_code, judge, verdict_of
from audit.policy.evaluate import NO_METRIC, NOT_APPLICABLE
from audit.records import CheckRun, Finding, Metric, Severity, Status, Verdict

TODAY = datetime.date(2026, 6, 1)
RAN = (CheckRun("bias", "ran"),)


def _one(policy, metrics, runs=RAN, fail_on="blocker") -> tuple[Finding, Verdict]:
    findings, verdict = judge(policy, metrics, runs, today=TODAY, fail_on=fail_on)
    assert len(findings) == 1, findings
    return findings[0], verdict


# (name, rule overrides, metrics, check runs, expected status, expected verdict)
CASES = [
    ("pass", {}, [metric(value=0.95)], RAN, Status.PASS, Verdict.PASS),
    ("pass at the bound", {}, [metric(value=0.9)], RAN, Status.PASS, Verdict.PASS),
    ("warn", {}, [metric(value=0.85)], RAN, Status.WARN, Verdict.PASS),
    ("warn at the fail bound", {}, [metric(value=0.8)], RAN, Status.WARN, Verdict.PASS),
    ("fail", {}, [metric(value=0.7)], RAN, Status.FAIL, Verdict.FAIL),
    (
        "upper bound fails",
        {"metric": "equalized_odds_difference", "threshold": '{op: "<=", value: 0.1}'},
        [metric("equalized_odds_difference", 0.2)],
        RAN,
        Status.FAIL,
        Verdict.FAIL,
    ),
    (
        "strict op fails at the bound",
        {"threshold": '{op: ">", value: 0.8}'},
        [metric(value=0.8)],
        RAN,
        Status.FAIL,
        Verdict.FAIL,
    ),
    ("small group", {}, [metric(value=0.95, n=29)], RAN, Status.INSUFFICIENT_DATA, Verdict.ERROR),
    (
        "group size unknown",
        {},
        [metric(value=0.95, n=None)],
        RAN,
        Status.INSUFFICIENT_DATA,
        Verdict.ERROR,
    ),
    ("no metric at all", {}, [], RAN, Status.ERROR, Verdict.ERROR),
    ("metric of another name", {}, [metric("selection_rate")], RAN, Status.ERROR, Verdict.ERROR),
    (
        "metric of another check",
        {},
        [metric(check="robustness")],
        RAN,
        Status.ERROR,
        Verdict.ERROR,
    ),
    (
        "subject matches nothing",
        {"subject": "{feature: age}"},
        [metric()],
        RAN,
        Status.ERROR,
        Verdict.ERROR,
    ),
    ("judged bound missing", {"on": "ci_low"}, [metric()], RAN, Status.ERROR, Verdict.ERROR),
    (
        "check crashed",
        {},
        [metric()],
        (CheckRun("bias", "error", "boom"),),
        Status.ERROR,
        Verdict.ERROR,
    ),
    ("check switched off", {}, [], (CheckRun("bias", "skipped"),), Status.SKIPPED, Verdict.PASS),
    ("no run record, no metric", {}, [], (), Status.ERROR, Verdict.ERROR),
    ("no run record, metric", {}, [metric()], (), Status.PASS, Verdict.PASS),
    (
        "minor failure does not block",
        {"severity": "minor"},
        [metric(value=0.1)],
        RAN,
        Status.FAIL,
        Verdict.PASS,
    ),
    (
        "major error does not block at blocker",
        {"severity": "major"},
        [],
        RAN,
        Status.ERROR,
        Verdict.PASS,
    ),
]


@pytest.mark.parametrize(
    ("overrides", "metrics", "runs", "status", "verdict"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_status_table(make_policy, overrides, metrics, runs, status, verdict):
    policy = make_policy(rule_yaml(**overrides))
    finding, got = _one(policy, metrics, runs)
    assert (finding.status, got) == (status, verdict)
    assert exit_code(got) == {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.ERROR: 2}[verdict]


def test_every_status_is_reachable():
    reached = {c[4] for c in CASES} | {Status.WAIVED}  # waived: see the waiver tests
    assert reached == set(Status)


def test_no_metric_message_names_rule_check_metric_and_subject(make_policy):
    policy = make_policy(
        rule_yaml(
            "FAIR-003",
            metric="equal_opportunity_difference",
            subject="{feature: age}",
            threshold='{op: "<=", value: 0.1}',
        )
    )
    finding, _ = _one(policy, [metric("equal_opportunity_difference", 0.0, feature="sex")])
    assert finding.message == (
        "rule FAIR-003 matched no metric: check `bias` produced no "
        "`equal_opportunity_difference` for feature `age`"
    )
    assert finding.message == NO_METRIC.format(
        rule="FAIR-003",
        check="bias",
        metric="equal_opportunity_difference",
        subject=" for feature `age`",
    )
    assert finding.metric is None and finding.threshold is not None


def test_check_error_message_carries_the_checks_error(make_policy):
    policy = make_policy(rule_yaml())
    finding, _ = _one(policy, [], (CheckRun("bias", "error", "CUDA out of memory"),))
    assert "CUDA out of memory" in finding.message


def test_metric_declared_not_applicable_is_skipped_with_the_reason(make_policy):
    policy = make_policy(rule_yaml())
    run = CheckRun("bias", "ran", not_applicable={"demographic_parity_ratio": "one group only"})
    finding, verdict = _one(policy, [], (run,))
    assert finding.status is Status.SKIPPED
    assert finding.message == NOT_APPLICABLE.format(
        rule="R-1", check="bias", metric="demographic_parity_ratio", reason="one group only"
    )
    assert verdict is Verdict.PASS


def test_not_applicable_does_not_excuse_a_measured_metric(make_policy):
    policy = make_policy(rule_yaml())
    run = CheckRun("bias", "ran", not_applicable={"demographic_parity_ratio": "n/a"})
    finding, _ = _one(policy, [metric(value=0.5)], (run,))
    assert finding.status is Status.FAIL


def test_not_applicable_for_another_metric_still_errors(make_policy):
    policy = make_policy(rule_yaml())
    run = CheckRun("bias", "ran", not_applicable={"selection_rate": "n/a"})
    finding, _ = _one(policy, [], (run,))
    assert finding.status is Status.ERROR


def test_rule_applies_to_every_matching_metric(make_policy):
    policy = make_policy(rule_yaml(subject="{feature: sex}"))
    metrics = [
        metric(value=0.95),
        metric(value=0.5, n=10),
        metric(value=0.7, feature="race"),  # other subject: not this rule's
        metric(value=0.7, method="class=1"),
    ]
    findings, verdict = judge(policy, metrics, RAN, today=TODAY)
    assert [f.status for f in findings] == [Status.PASS, Status.INSUFFICIENT_DATA, Status.FAIL]
    assert verdict == Verdict.FAIL  # a failure found beats a group too small to judge


# `severity` is the level's deprecated old name: a policy written with it judges the same.
@pytest.mark.parametrize("key", ["level", "severity"])
def test_subject_filters_on_level_and_perturbation(make_policy, key):
    policy = make_policy(
        rule_yaml(
            check="robustness",
            metric="accuracy_ratio",
            subject=f"{{perturbation: gaussian_noise, {key}: 2}}",
            threshold='{op: ">=", value: 0.9}',
        )
    )
    assert policy.rules[0].subject.level == 2
    metrics = [
        Metric("robustness", "accuracy_ratio", 0.5, perturbation="gaussian_noise", level=1),
        Metric("robustness", "accuracy_ratio", 0.95, perturbation="gaussian_noise", level=2),
        Metric("robustness", "accuracy_ratio", 0.5, perturbation="fgsm", level=2),
    ]
    findings, verdict = judge(policy, metrics, (CheckRun("robustness", "ran"),), today=TODAY)
    assert [(f.metric.level, f.status) for f in findings] == [(2, Status.PASS)]
    assert verdict == Verdict.PASS


def test_numeric_group_in_subject_matches_string_group(make_policy):
    policy = make_policy(
        rule_yaml(
            metric="selection_rate",
            subject="{feature: age, group: 40}",
            threshold='{op: ">=", value: 0.1}',
        )
    )
    finding, _ = _one(policy, [metric("selection_rate", 0.2, feature="age", group="40")])
    assert finding.status == Status.PASS


@pytest.mark.parametrize(("on", "status"), [("ci_low", Status.FAIL), ("ci_high", Status.PASS)])
def test_rules_judge_the_chosen_bound(make_policy, on, status):
    policy = make_policy(rule_yaml(on=on, threshold='{op: ">=", value: 0.8}'))
    finding, _ = _one(policy, [metric(value=0.85, ci_low=0.75, ci_high=0.95)])
    assert finding.status == status


def test_required_check_switched_off_is_an_error(make_policy):
    policy = make_policy(rule_yaml(), required="[bias]")
    finding, verdict = _one(policy, [], (CheckRun("bias", "skipped"),))
    assert finding.status == Status.ERROR and "required" in finding.message
    assert verdict == Verdict.ERROR


class TestWaivers:
    WAIVER = "- {{rule: R-1, {subject}justification: known, approver: J. Doe, expires: {date}}}\n"

    def _judge(self, make_policy, date, subject="", value=0.7):
        waivers = self.WAIVER.format(subject=subject, date=date)
        policy = make_policy(rule_yaml(), waivers=waivers)
        return _one(policy, [metric(value=value)])

    def test_live_waiver_turns_fail_into_waived(self, make_policy):
        finding, verdict = self._judge(make_policy, "2026-12-31")
        assert finding.status == Status.WAIVED and verdict == Verdict.PASS
        assert finding.waiver is not None and finding.waiver.approver == "J. Doe"
        assert "waived by J. Doe until 2026-12-31: known" in finding.message

    def test_waiver_is_valid_through_its_expiry_day(self, make_policy):
        finding, _ = self._judge(make_policy, TODAY.isoformat())
        assert finding.status == Status.WAIVED

    def test_expired_waiver_is_ignored_and_reported(self, make_policy):
        finding, verdict = self._judge(make_policy, "2026-05-31")
        assert finding.status == Status.FAIL and verdict == Verdict.FAIL
        assert "expired on 2026-05-31 and was ignored" in finding.message
        assert finding.waiver is not None and finding.waiver.expired

    def test_waiver_for_another_subject_does_not_apply(self, make_policy):
        finding, _ = self._judge(make_policy, "2026-12-31", subject="subject: {feature: race}, ")
        assert finding.status == Status.FAIL and finding.waiver is None

    def test_waiver_does_not_touch_a_pass(self, make_policy):
        finding, _ = self._judge(make_policy, "2026-12-31", value=0.95)
        assert finding.status == Status.PASS and finding.waiver is None

    def test_waiver_never_hides_insufficient_data(self, make_policy):
        policy = make_policy(rule_yaml(), waivers=self.WAIVER.format(subject="", date="2027-01-01"))
        finding, verdict = _one(policy, [metric(value=0.7, n=5)])
        assert finding.status == Status.INSUFFICIENT_DATA and verdict == Verdict.ERROR


class TestCheckRunsWithoutRules:
    def test_crashed_check_without_rules_blocks(self, make_policy):
        policy = make_policy(rule_yaml())
        runs = (*RAN, CheckRun("robustness", "error", "shape mismatch"))
        findings, verdict = judge(policy, [metric()], runs, today=TODAY)
        extra = findings[-1]
        assert (extra.rule, extra.status, extra.threshold) == (
            "CHECK-ROBUSTNESS",
            Status.ERROR,
            None,
        )
        assert "shape mismatch" in extra.message and verdict == Verdict.ERROR

    @pytest.mark.parametrize("runs", [(CheckRun("spurious", "skipped"),), ()])
    def test_required_check_without_rules_that_did_not_run_blocks(self, make_policy, runs):
        policy = make_policy(rule_yaml(), required="[spurious]")
        findings, verdict = judge(policy, [metric()], (*RAN, *runs), today=TODAY)
        assert findings[-1].rule == "CHECK-SPURIOUS" and verdict == Verdict.ERROR

    def test_optional_check_switched_off_without_rules_is_silent(self, make_policy):
        policy = make_policy(rule_yaml())
        runs = (*RAN, CheckRun("spurious", "skipped"))
        findings, verdict = judge(policy, [metric()], runs, today=TODAY)
        assert len(findings) == 1 and verdict == Verdict.PASS


def _f(status: Status, severity: Severity) -> Finding:
    return Finding("R", "bias", "m", status, severity, None, "")


@pytest.mark.parametrize(
    ("findings", "fail_on", "verdict"),
    [
        ([], "blocker", Verdict.PASS),
        ([_f(Status.FAIL, Severity.MAJOR)], "blocker", Verdict.PASS),
        ([_f(Status.FAIL, Severity.MAJOR)], "major", Verdict.FAIL),
        ([_f(Status.ERROR, Severity.MINOR)], "major", Verdict.PASS),
        ([_f(Status.ERROR, Severity.MINOR)], "minor", Verdict.ERROR),
        ([_f(Status.WARN, Severity.BLOCKER)], "blocker", Verdict.PASS),
        ([_f(Status.WARN, Severity.MINOR)], "warn", Verdict.FAIL),
        ([_f(Status.FAIL, Severity.MINOR)], "warn", Verdict.FAIL),
        (
            [_f(Status.FAIL, Severity.BLOCKER), _f(Status.ERROR, Severity.BLOCKER)],
            "blocker",
            Verdict.FAIL,
        ),
        (
            [_f(Status.FAIL, Severity.MAJOR), _f(Status.INSUFFICIENT_DATA, Severity.BLOCKER)],
            "blocker",
            Verdict.ERROR,
        ),
        (
            [_f(Status.WARN, Severity.MINOR), _f(Status.ERROR, Severity.BLOCKER)],
            "warn",
            Verdict.FAIL,
        ),
        (
            [_f(Status.WAIVED, Severity.BLOCKER), _f(Status.SKIPPED, Severity.BLOCKER)],
            "warn",
            Verdict.PASS,
        ),
    ],
)
def test_fail_on_sets_the_gates_strictness(findings, fail_on, verdict):
    assert verdict_of(findings, fail_on) == verdict


def test_unknown_fail_on_is_refused():
    with pytest.raises(ValueError, match="--fail-on must be one of"):
        verdict_of([], "critical")


def test_findings_serialise_as_contract_section_5(make_policy):
    waivers = "- {rule: R-1, justification: known, approver: J. Doe, expires: 2026-12-31}\n"
    policy = make_policy(rule_yaml(), waivers=waivers, required="[spurious]")
    findings, _ = judge(policy, [metric(value=0.7, ci_low=0.6, ci_high=0.8)], RAN, today=TODAY)
    waived, run = (f.to_json() for f in findings)
    assert waived == {
        "rule": "R-1",
        "check": "bias",
        "metric": "demographic_parity_ratio",
        "feature": "sex",
        "value": 0.7,
        "ci_low": 0.6,
        "ci_high": 0.8,
        "n": 100,
        "threshold": {"op": ">=", "value": 0.8, "warn": 0.9},
        "severity": "blocker",
        "status": "waived",
        "message": waived["message"],
        "rationale": "test",
        "waiver": {
            "rule": "R-1",
            "justification": "known",
            "approver": "J. Doe",
            "expires": "2026-12-31",
            "expired": False,
        },
        "adjustment": {
            "method": "holm",
            "family_size": 1,
            "construction": "point estimate (no interval to adjust)",
        },
    }
    assert "threshold" not in run and run["status"] == "error"
