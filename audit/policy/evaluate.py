"""Judge metrics against a policy: every rule, every matching metric, failing closed.

A rule can only pass on a metric that exists, is big enough to judge, and carries the bound
the rule reads. Everything else (a crashed or switched-off required check, a rule that found
nothing to judge, an undersized group, a missing interval) is `error` or `insufficient_data`,
and those block the release exactly like a failure does. Waivers only ever turn a `fail` into
`waived`; they never hide an error or missing data.

Multiple comparisons: `defaults.confidence` and `defaults.multiple_comparisons` tell the checks
which interval to report; the judge reads the bounds as given and does not adjust them again
(metrics carry no p-values).
"""

from __future__ import annotations

import datetime
import operator
from collections import defaultdict
from collections.abc import Callable, Sequence

from audit.policy.model import Policy, Rule, Subject, WaiverSpec
from audit.records import (
    BLOCKING_STATUSES,
    CheckRun,
    Finding,
    Metric,
    Severity,
    Status,
    Verdict,
    Waiver,
)

FAIL_ON = ("blocker", "major", "minor", "warn")
BAD_FAIL_ON = "--fail-on must be one of {choices}; got {got!r}."

NO_METRIC = "rule {rule} matched no metric: check `{check}` produced no `{metric}`{subject}"
CHECK_FAILED = "rule {rule} not evaluated: check `{check}` failed: {error}"
CHECK_SKIPPED = "rule {rule} skipped: check `{check}` was switched off in the spec"
NOT_APPLICABLE = "rule {rule} not applicable: check `{check}` did not measure `{metric}`: {reason}"
REQUIRED_SKIPPED = (
    "rule {rule} not evaluated: check `{check}` is required by policy `{policy}` "
    "but was switched off in the spec"
)
RUN_FAILED = "check `{check}` failed, so the audit is incomplete: {error}"
RUN_REQUIRED = "check `{check}` is required by policy `{policy}` but did not run"
SMALL_GROUP = (
    "{what}: n = {n} is below the policy's minimum group size of {min}; too small to judge"
)
UNKNOWN_N = "{what}: group size unknown, so the minimum of {min} cannot be confirmed"
NO_BOUND = "{what}: the rule judges `{on}` but the metric has no confidence interval"
JUDGED = "{what} = {value:.4g} ({on}); {outcome} {threshold}"
WAIVED = "; waived by {approver} until {expires}: {justification}"
EXPIRED = "; a waiver by {approver} expired on {expires} and was ignored"

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


def _blocks(finding: Finding, fail_on: str) -> bool:
    """Whether this finding keeps the gate shut at the chosen strictness."""
    if fail_on == "warn":
        return finding.status in BLOCKING_STATUSES or finding.status == Status.WARN
    if finding.severity.rank < Severity(fail_on).rank:
        return False
    return finding.status in BLOCKING_STATUSES


def verdict_of(findings: Sequence[Finding], fail_on: str = "blocker") -> Verdict:
    """`error` if a blocking finding could not be judged, `fail` if one failed, else `pass`."""
    if fail_on not in FAIL_ON:
        raise ValueError(BAD_FAIL_ON.format(choices=", ".join(FAIL_ON), got=fail_on))
    blocking = [f for f in findings if _blocks(f, fail_on)]
    if any(f.status in (Status.ERROR, Status.INSUFFICIENT_DATA) for f in blocking):
        return Verdict.ERROR
    return Verdict.FAIL if blocking else Verdict.PASS


def exit_code(verdict: Verdict) -> int:
    """docs/contract.md, section 1: 0 pass, 1 policy failed, 2 audit incomplete."""
    return {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.ERROR: 2}[Verdict(verdict)]


def _what(rule: Rule, metric: Metric) -> str:
    return f"{rule.metric} [{metric.subject}]"


def _subject_phrase(subject: Subject) -> str:
    text = subject.describe()
    return f" for {text}" if text else ""


def _finding(
    rule: Rule,
    status: Status,
    message: str,
    metric: Metric | None = None,
    waiver: Waiver | None = None,
) -> Finding:
    return Finding(
        rule=rule.id,
        check=rule.check,
        metric_name=rule.metric,
        status=status,
        severity=Severity(rule.severity),
        threshold=rule.record_threshold(),
        message=message,
        metric=metric,
        rationale=rule.rationale.strip(),
        references=tuple(rule.references),
        waiver=waiver,
    )


def _waiver_record(w: WaiverSpec, today: datetime.date) -> Waiver:
    return Waiver(
        rule=w.rule,
        justification=w.justification,
        approver=w.approver,
        expires=w.expires.isoformat(),
        expired=w.expired(today),
        **dict(w.subject.items()),
    )


def _outcome(rule: Rule, observed: float) -> Status:
    t, test = rule.threshold, _OPS[rule.threshold.op]
    if not test(observed, t.value):
        return Status.FAIL
    if t.warn is not None and not test(observed, t.warn):
        return Status.WARN
    return Status.PASS


def _judge_metric(rule: Rule, metric: Metric, policy: Policy, today: datetime.date) -> Finding:
    what, least = _what(rule, metric), policy.defaults.min_group_size
    if metric.n is not None and metric.n < least:
        msg = SMALL_GROUP.format(what=what, n=metric.n, min=least)
        return _finding(rule, Status.INSUFFICIENT_DATA, msg, metric)
    if metric.n is None and (metric.feature is not None or metric.group is not None):
        msg = UNKNOWN_N.format(what=what, min=least)
        return _finding(rule, Status.INSUFFICIENT_DATA, msg, metric)
    observed = getattr(metric, rule.on)
    if observed is None:
        return _finding(rule, Status.ERROR, NO_BOUND.format(what=what, on=rule.on), metric)
    status = _outcome(rule, observed)
    outcome = {Status.PASS: "meets", Status.WARN: "meets but near", Status.FAIL: "violates"}
    message = JUDGED.format(
        what=what,
        value=observed,
        on=rule.on,
        outcome=outcome[status],
        threshold=rule.record_threshold(),
    )
    if status != Status.FAIL:
        return _finding(rule, status, message, metric)
    waivers = [w for w in policy.waivers if w.rule == rule.id and w.subject.matches(metric)]
    live = [w for w in waivers if not w.expired(today)]
    if live:
        w = max(live, key=lambda w: w.expires)
        message += WAIVED.format(
            approver=w.approver, expires=w.expires.isoformat(), justification=w.justification
        )
        return _finding(rule, Status.WAIVED, message, metric, _waiver_record(w, today))
    if waivers:
        w = max(waivers, key=lambda w: w.expires)
        message += EXPIRED.format(approver=w.approver, expires=w.expires.isoformat())
        return _finding(rule, Status.FAIL, message, metric, _waiver_record(w, today))
    return _finding(rule, Status.FAIL, message, metric)


def _judge_rule(
    rule: Rule,
    policy: Policy,
    candidates: Sequence[Metric],
    run: CheckRun | None,
    today: datetime.date,
) -> list[Finding]:
    """The findings of one rule; `candidates` are the metrics of its check and name."""
    names = {"rule": rule.id, "check": rule.check, "policy": policy.name}
    if run is not None and run.state == "error":
        return [_finding(rule, Status.ERROR, CHECK_FAILED.format(**names, error=run.message))]
    if run is not None and run.state == "skipped":
        if rule.check in policy.required_checks:
            return [_finding(rule, Status.ERROR, REQUIRED_SKIPPED.format(**names))]
        return [_finding(rule, Status.SKIPPED, CHECK_SKIPPED.format(**names))]
    matched = [m for m in candidates if rule.subject.matches(m)]
    if not matched and run is not None and rule.metric in run.not_applicable:
        reason = run.not_applicable[rule.metric]
        return [
            _finding(
                rule,
                Status.SKIPPED,
                NOT_APPLICABLE.format(**names, metric=rule.metric, reason=reason),
            )
        ]
    if not matched:
        subject = _subject_phrase(rule.subject)
        message = NO_METRIC.format(**names, metric=rule.metric, subject=subject)
        return [_finding(rule, Status.ERROR, message)]
    return [_judge_metric(rule, m, policy, today) for m in matched]


def _run_finding(check: str, message: str) -> Finding:
    """A blocker about a check run that no rule covers: an incomplete audit never passes."""
    return Finding(
        rule=f"CHECK-{check.upper()}",
        check=check,
        metric_name="(check run)",
        status=Status.ERROR,
        severity=Severity.BLOCKER,
        threshold=None,
        message=message,
    )


def _uncovered_runs(
    policy: Policy, metrics: Sequence[Metric], runs: dict[str, CheckRun]
) -> list[Finding]:
    """Findings for checks no rule reads that crashed, or that are required but did not run."""
    covered = {r.check for r in policy.rules}
    out = []
    for check in dict.fromkeys([*runs, *policy.required_checks]):
        run = runs.get(check)
        if check in covered:
            continue
        if run is not None and run.state == "error":
            out.append(_run_finding(check, RUN_FAILED.format(check=check, error=run.message)))
        elif check in policy.required_checks and (
            (run is not None and run.state == "skipped")
            or (run is None and not any(m.check == check for m in metrics))
        ):
            out.append(_run_finding(check, RUN_REQUIRED.format(check=check, policy=policy.name)))
    return out


def judge(
    policy: Policy,
    metrics: Sequence[Metric],
    check_runs: Sequence[CheckRun],
    *,
    today: datetime.date,
    fail_on: str = "blocker",
) -> tuple[tuple[Finding, ...], Verdict]:
    """Apply every rule to every matching metric, then decide the verdict at `fail_on`.

    A check without a run record is judged as if it ran: its rules then need metrics.
    """
    runs = {r.check: r for r in check_runs}
    by_name: dict[tuple[str, str], list[Metric]] = defaultdict(list)
    for m in metrics:
        by_name[m.check, m.name].append(m)
    findings = [
        f
        for rule in policy.rules
        for f in _judge_rule(
            rule, policy, by_name.get((rule.check, rule.metric), []), runs.get(rule.check), today
        )
    ]
    findings += _uncovered_runs(policy, metrics, runs)
    return tuple(findings), verdict_of(findings, fail_on)
