"""Turn a finished `AuditResult` into the report's view model.

Every number is formatted, every sentence written and every figure drawn here, so the
templates only lay out what they are given. Strings from the audit (group names, messages)
stay raw: jinja2's autoescaping makes them safe, and the CSS wraps them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from audit import registry
from audit.presentation.format import clip, fmt, fmt_ci, threshold_text
from audit.presentation.plain import generic_sentence, plural
from audit.presentation.view import (
    Cell,
    CheckSection,
    ReportSettings,
    SectionInput,
    Table,
    metrics_table,
    table,
)
from audit.records import (
    STATUS_SEVERITY,
    VERDICT_TEXT,
    AuditResult,
    CheckRun,
    Finding,
    Severity,
    Status,
    Verdict,
)
from audit.records import audit_id as records_audit_id
from audit.report.crosswalk import framework_views, intro

TOP_FAILURES = 5
STATUS_ORDER = STATUS_SEVERITY  # worst first
STATUS_LABELS = {s: s.value.replace("_", " ") for s in Status}
PROBLEM_STATUSES = (Status.FAIL, Status.ERROR, Status.INSUFFICIENT_DATA, Status.WARN)
EVIDENCE_ERROR = (
    "Some of this check's evidence could not be drawn ({error}); its figures are left out and "
    "every measurement is listed below."
)
EMPTY_MESSAGES = {
    "skipped": "This check was switched off in the spec; it measured nothing.",
    "error": "This check failed before it could measure anything; see the error below. Its "
    "rules are reported as errors, never as passes.",
}
NOT_MEASURED = "This check ran but produced no measurements."


def audit_id(result: AuditResult) -> str:
    """The run's short stable id (`audit.records.audit_id`), as the cover prints it."""
    return records_audit_id(result.name, result.started_at, result.provenance.model_sha256)


def settings(result: AuditResult) -> ReportSettings:
    """The policy's statistical settings, from the typed policy record (never re-parsed)."""
    p = result.policy
    return ReportSettings(
        confidence=p.confidence,
        min_group_size=p.min_group_size,
        multiple_comparisons=p.multiple_comparisons,
    )


# --- the whole report ------------------------------------------------------------------


def _section(result: AuditResult, check: str, run: CheckRun | None) -> CheckSection:
    """The check's own section (from its plugin), with the run's state around it."""
    plugin = registry.plugins().get(check)
    metrics = tuple(m for m in result.metrics if m.check == check)
    title = plugin.title if plugin else check
    try:
        if plugin is None:  # a check this installation does not know (a re-read report)
            raise LookupError(f"no check named {check!r} is installed")
        inputs = SectionInput(
            metrics=metrics,
            findings=tuple(f for f in result.findings if f.check == check),
            evidence=result.evidence.get(check),
            settings=settings(result),
        )
        section = plugin.section(inputs)
    except (KeyError, LookupError, TypeError, ValueError, IndexError, AttributeError) as exc:
        # Malformed evidence must not sink the report: say so, and still list every number.
        section = CheckSection(check, title)
        section.evidence_error = EVIDENCE_ERROR.format(error=f"{type(exc).__name__}: {exc}")
        if metrics:
            section.tables.append(metrics_table(metrics, f"{title} measurements"))
    section.state = run.state if run else "ran"
    section.state_message = run.message if run else ""
    if not metrics:
        section.empty_message = EMPTY_MESSAGES.get(section.state, NOT_MEASURED)
    return section


def _sections(result: AuditResult) -> list[CheckSection]:
    """One section per check that ran or measured, in registry order (unknown checks last)."""
    runs = {r.check: r for r in result.check_runs}
    present = {m.check for m in result.metrics} | set(runs)
    known = [c for c in registry.check_names() if c in present]
    order = known + sorted(present - set(known))
    return [_section(result, check, runs.get(check)) for check in order]


# Verdict precedence: a fail is reported with the blocking findings that could not be judged.
UNJUDGED_BESIDE_FAIL = (
    " Beside the failures, {findings} could not be judged (insufficient data or error): {which}."
)
UNJUDGED_SHOWN = 12


def _finding_row(f: Finding) -> dict[str, Any]:
    waiver = ""
    if f.waiver is not None:
        w = f.waiver
        waiver = (
            f"Waived by {w.approver} until {w.expires}"
            + (" (EXPIRED)" if w.expired else "")
            + f": {w.justification}"
        )
    return {
        "rule": f.rule,
        "check": f.check,
        "subject": clip(f.metric.subject) if f.metric else "—",
        "metric": f.metric_name,
        "value": fmt(f.metric.value) if f.metric else "—",
        "ci": fmt_ci(f.metric.ci_low, f.metric.ci_high) if f.metric else "—",
        "threshold": threshold_text(f.threshold),
        "status": STATUS_LABELS[f.status],
        "status_cls": f"status-{f.status.value}",
        "message": clip(f.message, 600),
        "waiver": clip(waiver, 600),
        "family": _family_note(f),
    }


def _family_note(f: Finding) -> str:
    """One line under the threshold: family size, method, and the bound at its adjusted level."""
    a = f.adjustment
    if a is None:
        return ""
    text = f"family m = {a.family_size}, {a.method}"
    if a.level is not None and a.adjusted is not None and a.raw is not None:
        text += f": {fmt(a.adjusted)} at {100 * a.level:.4g}% (raw {fmt(a.raw)})"
    elif a.p_adjusted is not None and a.raw is not None:
        text += f": adjusted p {fmt(a.p_adjusted)} (raw {fmt(a.raw)})"
    else:
        text += ": point estimate, no interval to adjust"
    return text


def _findings_by_severity(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    groups = []
    for sev in sorted(Severity, key=lambda s: -s.rank):
        fs = sorted(
            (f for f in findings if f.severity == sev), key=lambda f: (rank[f.status], f.rule)
        )
        if fs:
            groups.append({"label": sev.value.capitalize(), "rows": [_finding_row(f) for f in fs]})
    return groups


def methodology(result: AuditResult, checks: Iterable[str]) -> list[dict[str, str]]:
    """What each check measured and what its numbers cannot tell, with policy values filled in."""
    known = registry.plugins()
    opts = settings(result)
    return [
        {
            "check": c,
            "title": known[c].title,
            "what": known[c].methodology.format(
                min_group_size=opts.min_group_size, confidence_pct=opts.confidence_pct
            ),
            "limits": known[c].limits.format(
                min_group_size=opts.min_group_size, confidence_pct=opts.confidence_pct
            ),
        }
        for c in checks
        if c in known
    ]


def _switched_off(result: AuditResult, policy: str) -> str:
    """One sentence naming the checks the spec switched off, and whether the policy allowed it
    (the judge errors on a required check that did not run, and skips an optional one)."""
    off = [r.check for r in result.check_runs if r.state == "skipped"]
    required = {f.check for f in result.findings if f.check in off and f.status == Status.ERROR}
    allowed = [c for c in off if c not in required]
    parts = []
    if allowed:
        parts.append(
            f"Switched off in the spec, as the {policy} allows: {', '.join(allowed)}; "
            "their rules were not judged."
        )
    if required:
        parts.append(
            f"Switched off in the spec although the {policy} requires them: "
            f"{', '.join(c for c in off if c in required)}; the audit is incomplete."
        )
    return " ".join(parts)


def plain_sentence(result: AuditResult, finding: Finding) -> str:
    """A finding in words for the summary: its check's own wording, else the generic one
    from the metric catalogue (the findings table keeps the rule's terms)."""
    pct = settings(result).confidence_pct
    plugin = registry.plugins().get(finding.check)
    if plugin is None:
        return generic_sentence(finding, None, pct)
    own = plugin.plain_sentence(finding, result.metrics, pct)
    if own is not None:
        return own
    info = next((m for m in plugin.catalogue if m.name == finding.metric_name), None)
    return generic_sentence(finding, info, pct)


def summary(result: AuditResult, model: str) -> dict[str, Any]:
    counts = Counter(f.status for f in result.findings)
    count_rows = [
        {"status": STATUS_LABELS[s], "cls": f"status-{s.value}", "n": counts[s]}
        for s in STATUS_ORDER
        if counts[s]
    ]
    problems = sorted(
        (f for f in result.findings if f.status in PROBLEM_STATUSES),
        key=lambda f: (-f.severity.rank, PROBLEM_STATUSES.index(f.status), f.rule),
    )
    blocking = sum(
        1
        for f in result.findings
        if f.severity == Severity.BLOCKER
        and f.status in PROBLEM_STATUSES
        and f.status != Status.WARN
    )
    policy = f"policy “{result.policy.name}” version {result.policy.version}"
    n = len(result.findings)
    if result.verdict == Verdict.PASS:
        outcome = (
            f"passed: every blocking rule of the {policy} was evaluated and met"
            + (
                f", though {plural(len(problems), 'finding')} "
                f"{'deserves' if len(problems) == 1 else 'deserve'} attention"
                if problems
                else ""
            )
            + "."
        )
    elif result.verdict == Verdict.FAIL:
        outcome = (
            f"failed: {plural(blocking, 'blocking finding')} under the {policy} "
            f"{'was' if blocking == 1 else 'were'} not met, so the release is blocked."
        )
        unjudged = [
            f
            for f in result.findings
            if f.severity == Severity.BLOCKER
            and f.status in (Status.ERROR, Status.INSUFFICIENT_DATA)
        ]
        if unjudged:
            outcome += UNJUDGED_BESIDE_FAIL.format(
                findings=plural(len(unjudged), "blocking finding"),
                which="; ".join(
                    clip(
                        f"{f.rule} {f.metric.subject if f.metric else f.metric_name}"
                        + (f" (n = {f.metric.n})" if f.metric and f.metric.n is not None else ""),
                        80,
                    )
                    for f in unjudged[:UNJUDGED_SHOWN]
                )
                + ("; …" if len(unjudged) > UNJUDGED_SHOWN else ""),
            )
    else:
        outcome = (
            f"could not be completed under the {policy}: a check crashed or evidence was "
            "missing, so no pass can be given."
        )
    errors = [r for r in result.check_runs if r.state == "error"]
    paragraph = (
        f"The audit of {model} {outcome} {plural(n, 'rule judgement')} "
        f"{'was' if n == 1 else 'were'} made across "
        f"{plural(len({f.check for f in result.findings}), 'check')}."
        + (
            f" {plural(len(errors), 'check')} raised "
            f"{'an error' if len(errors) == 1 else 'errors'}."
            if errors
            else ""
        )
    )
    return {
        "paragraph": paragraph,
        "switched_off": _switched_off(result, policy),
        "counts": count_rows,
        "top": [
            {
                "rule": f.rule,
                "severity": f.severity.value,
                "status": STATUS_LABELS[f.status],
                "status_cls": f"status-{f.status.value}",
                "sentence": clip(plain_sentence(result, f), 600),
                "rationale": f.rationale,
            }
            for f in problems[:TOP_FAILURES]
        ],
        "more": max(0, len(problems) - TOP_FAILURES),
    }


def _pairs(mapping: Mapping[str, Any], *, leave_out: Sequence[str] = ()) -> list[tuple[str, str]]:
    return [(str(k), clip(_plain(v), 400)) for k, v in mapping.items() if k not in leave_out]


def _plain(value: Any) -> str:
    """A value as a reader sees it: a mapping as `key value; ...`, a list joined by commas."""
    if isinstance(value, Mapping):
        return "; ".join(f"{k.replace('_', ' ')} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value) if value else "none"
    return str(value)


def _unreadable(data_info: Mapping[str, Any]) -> Table | None:
    """Image files left out of the audit because they could not be read, each with why."""
    files = data_info.get("unreadable_files") or []
    if not files:
        return None
    return table(
        f"{plural(len(files), 'image file')} left out: they could not be read",
        ["File", "Why"],
        [(Cell(str(f.get("path"))), Cell(str(f.get("reason")))) for f in files],
    )


def _number(value: Any) -> str:
    return fmt(value) if isinstance(value, int | float) else "—"


def _interval(value: Any, ci: Any) -> str:
    if isinstance(ci, Sequence) and len(ci) == 2:
        return f"{_number(value)} ({fmt_ci(ci[0], ci[1])})"
    return _number(value)


def _history(evidence: Mapping[str, object], pct: str) -> list[dict[str, Any]] | None:
    """The drift since the last audit as tables (never raw dicts), one per kind of change."""
    history = evidence.get("history")
    if not isinstance(history, Mapping):
        return None

    def rows(key: str) -> list[Mapping[str, Any]]:
        return [i for i in history.get(key, ()) if isinstance(i, Mapping)]

    def rules(key: str, caption: str) -> Table:
        return table(
            caption,
            ("Rule", "Check", "Subject", "Status", "Value"),
            [
                (
                    Cell(str(i.get("rule", ""))),
                    Cell(str(i.get("check", ""))),
                    Cell(clip(str(i.get("subject", "")), 80)),
                    Cell(str(i.get("status", ""))),
                    Cell(_number(i.get("value")), "num"),
                )
                for i in rows(key)
            ],
        )

    changed = table(
        f"Measurements whose {pct} intervals no longer overlap the last audit's",
        ("Check", "Metric", "Subject", "Last audit (CI)", "Now (CI)", "Change"),
        [
            (
                Cell(str(i.get("check", ""))),
                Cell(str(i.get("metric", ""))),
                Cell(clip(str(i.get("subject", "")), 80)),
                Cell(_interval(i.get("previous"), i.get("previous_ci")), "num"),
                Cell(_interval(i.get("current"), i.get("current_ci")), "num"),
                Cell(_number(i.get("change")), "num"),
            )
            for i in rows("changed")
        ],
    )
    return [
        {
            "label": "New failures",
            "table": rules("new_failures", "Rules that fail now and did not last time"),
            "empty": "No rule fails now that passed last time.",
        },
        {
            "label": "Fixed",
            "table": rules("fixed", "Rules that failed last time and pass now"),
            "empty": "No rule passes now that failed last time.",
        },
        {
            "label": "Waived",
            "table": rules("waived", "Rules that failed last time and are waived now"),
            "empty": "No failure of last time is waived now.",
        },
        {
            "label": "Not measured this time",
            "table": rules(
                "not_measured",
                "Rules that failed last time and were not measured now: not fixed, unknown",
            ),
            "empty": "Every rule that failed last time was measured again.",
        },
        {
            "label": "Changed measurements",
            "table": changed,
            "empty": "No measurement changed beyond its interval.",
        },
    ]


def build_context(result: AuditResult, *, signer: str) -> dict[str, Any]:
    """The template's whole view model; nothing in the templates computes."""
    model = str(result.model_info.get("name") or result.name)
    version = result.model_info.get("version")
    aid = audit_id(result)
    verdict = result.verdict.value
    sections = _sections(result)
    frameworks = framework_views(result.framework_mapping)
    return {
        "audit_id": aid,
        "title": f"Audit report: {model}",
        "model": model,
        "model_version": str(version) if version is not None else "",
        "audit_date": result.started_at[:10],
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "policy_name": result.policy.name,
        "policy_version": result.policy.version,
        "signer": signer,
        "verdict": verdict,
        "verdict_text": VERDICT_TEXT[result.verdict],
        "keywords": (
            f"audit-verdict={verdict}; audit-id={aid}; "
            f"model-sha256={result.provenance.model_sha256}"
        ),
        "description": (
            f"Trust-and-safety audit of {model} under policy {result.policy.name} "
            f"{result.policy.version}: verdict {verdict}."
        ),
        "summary": summary(result, model),
        "findings_groups": _findings_by_severity(result.findings),
        "check_runs": [
            {
                "check": r.check,
                "state": r.state,
                "cls": f"state-{r.state}",
                "seconds": f"{r.seconds:.1f}",
                "message": clip(r.message, 1000),
            }
            for r in result.check_runs
        ],
        "sections": sections,
        "frameworks": frameworks,
        "framework_intro": intro(frameworks),
        "methodology": methodology(result, [s.check for s in sections]),
        "confidence_pct": settings(result).confidence_pct,
        "provenance": [
            ("Audit id", aid),
            ("Audit name", result.name),
            ("Started", result.started_at),
            ("Finished", result.finished_at),
            ("Model sha256", result.provenance.model_sha256),
            ("Data sha256", result.provenance.data_sha256),
            ("Spec sha256", result.provenance.spec_sha256),
            ("Policy sha256", result.provenance.policy_sha256),
            ("Seed", str(result.provenance.seed)),
        ],
        "versions": _pairs(result.provenance.versions),
        "model_info": _pairs(result.model_info),
        "data_info": _pairs(result.data_info, leave_out=["unreadable_files"]),
        "unreadable": _unreadable(result.data_info),
        "spec_text": result.spec_text,
        "policy_text": result.policy.text,
        "history": _history(result.evidence, settings(result).confidence_pct),
    }
