"""Judge metrics against a policy: every rule, every matching metric, failing closed.

A rule can only pass on a metric that exists, is big enough to judge, and carries the bound
the rule reads. Everything else (a crashed or switched-off required check, a rule that found
nothing to judge, an undersized group, a missing interval) is `error` or `insufficient_data`,
and those block the release exactly like a failure does. Waivers only ever turn a `fail` into
`waived`; they never hide an error or missing data.

Multiple comparisons: checks report intervals at `defaults.confidence`; the judge treats the
metrics one rule judges as a family and reads each bound rebuilt at the level
`defaults.multiple_comparisons` asks for (`audit.policy.family`). Each finding records the
family size, the adjusted level, the raw and the adjusted bound, and the smallest gap the
measurement could detect.

Small groups: an aggregate over a feature carries its smallest group's `n`, so one person in a
group makes every rule over that feature `insufficient_data`; the finding names the groups
below the minimum (the group-level metrics of the same check and feature carry their sizes).
When `defaults.small_groups` excludes, the check declares each group it left out with an
`excluded_share` metric; that group's own metrics become `skipped` findings that name it, its
share and the justification, and every finding on the feature's aggregates lists it too.

Verdict precedence: any blocking `fail` makes the verdict `fail` (the audit completed and
found a violation), with the blocking `error`/`insufficient_data` findings listed beside it;
`error` only when nothing blocking failed but something blocking could not be judged.
"""

from __future__ import annotations

import dataclasses
import datetime
import operator
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from audit.policy.family import Judged, adjust, detectable
from audit.policy.model import Policy, Rule, Subject, WaiverSpec
from audit.records import (
    BLOCKING_STATUSES,
    EXCLUDED_SHARE,
    Adjustment,
    CheckRun,
    Detectable,
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
SMALL_GROUPS = (
    "{what}: spans {groups}, below the policy's minimum group size of {min}; too small to judge"
)
EXCLUDED = (
    "{what}: not judged: the group is {share:.2%} of the rows (n = {n}), under "
    "defaults.small_groups.below_share = {below:.2%}, which excludes it: {justification}"
)
LEAVES_OUT = "; excludes {groups} under defaults.small_groups: {justification}"
LISTED_GROUPS = 5
UNKNOWN_N = "{what}: group size unknown, so the minimum of {min} cannot be confirmed"
NO_BOUND = "{what}: the rule judges `{on}` but the metric has no confidence interval"
BAD_INTERVAL = (
    "{what}: the interval [{low}, {high}] is not an interval (low above high or an end missing)"
)
JUDGED = "{what} = {value:.4g} ({on}{how}); {outcome} {threshold}"
AT_LEVEL = " at {level:.4g}% for a family of {m} ({method}; {raw:.4g} at the reported level)"
ADJUSTED_P = " adjusted by {method} across a family of {m} (raw {raw:.4g})"
UNDERPOWERED = (
    "; not enough data to show compliance: the smallest gap this audit detects with "
    "{power:.0%} power at α = {alpha:.2g} is {gap:.3g}, more than the rule's margin of {margin:.3g}"
)
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
    """`fail` if a blocking finding failed; else `error` if one could not be judged; else `pass`.

    A failure found is a result even when other rules could not be judged: the audit ran and
    the release is blocked for a known reason (exit 1). `error` (exit 2) is kept for an audit
    that found nothing wrong but could not judge everything, which is no pass either.
    """
    if fail_on not in FAIL_ON:
        raise ValueError(BAD_FAIL_ON.format(choices=", ".join(FAIL_ON), got=fail_on))
    blocking = [f for f in findings if _blocks(f, fail_on)]
    # A `warn` blocks only under --fail-on warn, and then it counts as a failure found.
    if any(f.status in (Status.FAIL, Status.WARN) for f in blocking):
        return Verdict.FAIL
    return Verdict.ERROR if blocking else Verdict.PASS


def unjudged_blockers(findings: Sequence[Finding], fail_on: str = "blocker") -> list[Finding]:
    """The blocking findings that could not be judged (listed beside a `fail` verdict)."""
    return [
        f
        for f in findings
        if _blocks(f, fail_on) and f.status in (Status.ERROR, Status.INSUFFICIENT_DATA)
    ]


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
    adjustment: Adjustment | None = None,
    detectable: Detectable | None = None,
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
        controls=tuple(c.record() for c in rule.controls),
        waiver=waiver,
        adjustment=adjustment,
        detectable=detectable,
    )


def _waiver_record(w: WaiverSpec, today: datetime.date) -> Waiver:
    return Waiver(
        rule=w.rule,
        justification=w.justification,
        approver=w.approver,
        expires=w.expires.isoformat(),
        expired=w.expired(today),
        **w.subject.as_keys(),
    )


def _outcome(rule: Rule, observed: float) -> Status:
    t, test = rule.threshold, _OPS[rule.threshold.op]
    if not test(observed, t.value):
        return Status.FAIL
    if t.warn is not None and not test(observed, t.warn):
        return Status.WARN
    return Status.PASS


@dataclasses.dataclass(frozen=True)
class _Groups:
    """What the metrics say about the groups of each (check, feature): sizes and exclusions."""

    sizes: Mapping[tuple[str, str], Mapping[str, int]]
    excluded: Mapping[tuple[str, str], Mapping[str, Metric]]

    @classmethod
    def of(cls, metrics: Sequence[Metric]) -> _Groups:
        sizes: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        excluded: dict[tuple[str, str], dict[str, Metric]] = defaultdict(dict)
        for m in metrics:
            if m.feature is None or m.group is None:
                continue
            if m.name == EXCLUDED_SHARE:
                excluded[m.check, m.feature][m.group] = m
            elif m.n is not None:
                sizes[m.check, m.feature].setdefault(m.group, m.n)
        return cls(sizes, excluded)

    def exclusion(self, metric: Metric) -> Metric | None:
        """The declaration excluding this group-level metric's group, if any."""
        if metric.group is None or metric.feature is None or metric.name == EXCLUDED_SHARE:
            return None
        return self.excluded.get((metric.check, metric.feature), {}).get(metric.group)

    def below(self, metric: Metric, least: int) -> list[tuple[str, int]]:
        """The judged groups under `least` of a feature-level metric's feature."""
        if metric.group is not None or metric.feature is None:
            return []
        key = (metric.check, metric.feature)
        left_out = self.excluded.get(key, {})
        sizes = self.sizes.get(key, {})
        return sorted(
            ((g, n) for g, n in sizes.items() if n < least and g not in left_out),
            key=lambda gn: (gn[1], gn[0]),
        )

    def left_out(self, metric: Metric) -> list[Metric]:
        if metric.group is not None or metric.feature is None:
            return []
        return list(self.excluded.get((metric.check, metric.feature), {}).values())


def _listed(pairs: Sequence[tuple[str, int]], noun: str = "group") -> str:
    shown = ", ".join(f"{noun} {g} (n = {n})" for g, n in pairs[:LISTED_GROUPS])
    more = len(pairs) - LISTED_GROUPS
    return shown + (f" and {more} more" if more > 0 else "")


def _with_exclusions(finding: Finding, groups: _Groups, policy: Policy) -> Finding:
    """A finding on a feature's aggregate names the groups the policy left out of it."""
    left = groups.left_out(finding.metric) if finding.metric is not None else []
    if not left:
        return finding
    pairs = sorted(((m.group or "", m.n or 0) for m in left), key=lambda gn: (gn[1], gn[0]))
    note = LEAVES_OUT.format(
        groups=_listed(pairs), justification=policy.defaults.small_groups.justification
    )
    return dataclasses.replace(finding, message=finding.message + note)


def _screen(rule: Rule, metric: Metric, policy: Policy, groups: _Groups) -> Finding | None:
    """The finding for a metric the rule cannot judge (excluded, too small, size or bound
    unknown)."""
    what, least = _what(rule, metric), policy.defaults.min_group_size
    declared = groups.exclusion(metric)
    if declared is not None:
        small = policy.defaults.small_groups
        msg = EXCLUDED.format(
            what=what,
            share=declared.value,
            n=declared.n,
            below=small.below_share or 0.0,
            justification=small.justification,
        )
        return _finding(rule, Status.SKIPPED, msg, metric)
    if metric.n is not None and metric.n < least:
        below = groups.below(metric, least)
        if below:
            msg = SMALL_GROUPS.format(what=what, groups=_listed(below), min=least)
        else:
            msg = SMALL_GROUP.format(what=what, n=metric.n, min=least)
        return _finding(rule, Status.INSUFFICIENT_DATA, msg, metric)
    if metric.n is None and (metric.feature is not None or metric.group is not None):
        msg = UNKNOWN_N.format(what=what, min=least)
        return _finding(rule, Status.INSUFFICIENT_DATA, msg, metric)
    if getattr(metric, rule.on) is None:
        return _finding(rule, Status.ERROR, NO_BOUND.format(what=what, on=rule.on), metric)
    low, high = metric.ci_low, metric.ci_high
    if rule.on != "value" and (high is None or low is None or low > high):
        # An inverted or one-sided interval cannot be rebuilt at another level.
        msg = BAD_INTERVAL.format(what=what, low=low, high=high)
        return _finding(rule, Status.ERROR, msg, metric)
    return None


def _how(adj: Adjustment) -> str:
    if adj.level is not None and adj.raw is not None:
        return AT_LEVEL.format(
            level=100 * adj.level, m=adj.family_size, method=adj.method, raw=adj.raw
        )
    if adj.p_adjusted is not None and adj.method != "none" and adj.raw is not None:
        return ADJUSTED_P.format(method=adj.method, m=adj.family_size, raw=adj.raw)
    return ""


def _judge_metric(
    rule: Rule, metric: Metric, judged: Judged, policy: Policy, today: datetime.date
) -> Finding:
    what, observed, adj = _what(rule, metric), judged.observed, judged.adjustment
    status = _outcome(rule, observed)
    power = detectable(rule, metric, judged.alpha)
    outcome = {Status.PASS: "meets", Status.WARN: "meets but near", Status.FAIL: "violates"}
    message = JUDGED.format(
        what=what,
        value=observed,
        on=rule.on,
        how=_how(adj),
        outcome=outcome[status],
        threshold=rule.record_threshold(),
    )
    if status != Status.FAIL:
        if power is not None and power.underpowered:
            message += UNDERPOWERED.format(
                power=power.power, alpha=power.alpha, gap=power.gap, margin=power.margin
            )
        return _finding(rule, status, message, metric, adjustment=adj, detectable=power)
    waivers = [w for w in policy.waivers if w.rule == rule.id and w.subject.matches(metric)]
    live = [w for w in waivers if not w.expired(today)]
    if live:
        w = max(live, key=lambda w: w.expires)
        message += WAIVED.format(
            approver=w.approver, expires=w.expires.isoformat(), justification=w.justification
        )
        return _finding(
            rule,
            Status.WAIVED,
            message,
            metric,
            _waiver_record(w, today),
            adjustment=adj,
            detectable=power,
        )
    if waivers:
        w = max(waivers, key=lambda w: w.expires)
        message += EXPIRED.format(approver=w.approver, expires=w.expires.isoformat())
        return _finding(
            rule,
            Status.FAIL,
            message,
            metric,
            _waiver_record(w, today),
            adjustment=adj,
            detectable=power,
        )
    return _finding(rule, Status.FAIL, message, metric, adjustment=adj, detectable=power)


def _judge_rule(
    rule: Rule,
    policy: Policy,
    candidates: Sequence[Metric],
    run: CheckRun | None,
    today: datetime.date,
    groups: _Groups,
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
    screened = [_screen(rule, m, policy, groups) for m in matched]
    family = [m for m, f in zip(matched, screened, strict=True) if f is None]
    judged = iter(adjust(rule, family, policy.defaults))
    return [
        _with_exclusions(
            f if f is not None else _judge_metric(rule, m, next(judged), policy, today),
            groups,
            policy,
        )
        for m, f in zip(matched, screened, strict=True)
    ]


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
    groups = _Groups.of(metrics)
    findings = [
        f
        for rule in policy.rules
        for f in _judge_rule(
            rule,
            policy,
            by_name.get((rule.check, rule.metric), []),
            runs.get(rule.check),
            today,
            groups,
        )
    ]
    findings += _uncovered_runs(policy, metrics, runs)
    return tuple(findings), verdict_of(findings, fail_on)
