"""The report's "Framework mapping" section as a typed view model.

For each framework the policy cites: the clauses this audit offers evidence for (the rules
whose findings serve, with their status, or the signed report itself), and, listed plainly,
the clauses it does not cover. The data is `AuditResult.framework_mapping`, the same map
findings.json carries, so the page and the file cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.presentation.plain import plural
from audit.records import (
    STATUS_SEVERITY,
    ClauseCoverage,
    FrameworkMapping,
    RuleEvidence,
    Status,
)

REPORT_STATUS = "this report"
# A clause's row names at most this many findings per status; the findings table has them all.
MAX_NAMED = 6
NOT_IN_SCOPE = "{title} ({clause}): not in scope of an automated audit. {note}"
NO_RULE = "{title} ({clause}): no rule of this policy cites it."


@dataclass(frozen=True)
class RuleLine:
    """One rule serving as evidence: `FAIR-001 (blocker): 1 fail, 3 pass`."""

    rule: str
    severity: str
    counts: str
    status: str  # the worst status of its findings, as a label
    status_cls: str
    flagged: tuple[str, ...] = ()  # `fail: sex=Female, race=Black`, worst status first


@dataclass(frozen=True)
class ClauseRow:
    clause: str
    title: str
    asks: str
    rules: tuple[RuleLine, ...]
    note: str  # for a clause the report itself serves
    status: str
    status_cls: str


@dataclass(frozen=True)
class FrameworkView:
    title: str
    citation: str
    covered: tuple[ClauseRow, ...]
    not_in_scope: tuple[str, ...]  # no automated audit can cover these
    no_rule: tuple[str, ...]  # an audit could; this policy's rules do not cite them


def _label(status: str) -> str:
    return status.replace("_", " ")


def _rule_line(r: RuleEvidence) -> RuleLine:
    ordered = [(s, r.statuses[s]) for s in STATUS_SEVERITY if r.statuses.get(s)]
    worst = r.status
    return RuleLine(
        rule=r.rule,
        severity=r.severity.value,
        counts=_counts(ordered),
        status=_label(worst.value) if worst else "not judged",
        status_cls=f"status-{worst.value}" if worst else "status-error",
        flagged=tuple(
            f"{_label(s.value)}: {_names(names)}"
            for s in STATUS_SEVERITY
            if (names := r.flagged.get(s))
        ),
    )


def _names(subjects: tuple[str, ...]) -> str:
    """The subjects a status stands for, the first few named and the rest counted."""
    shown = ", ".join(subjects[:MAX_NAMED])
    rest = len(subjects) - MAX_NAMED
    return shown if rest <= 0 else f"{shown} and {rest} more (see the findings table)"


def _counts(ordered: list[tuple[Status, int]]) -> str:
    """`3 findings` when they share a status, else `3 findings: 2 fail, 1 warn`."""
    total = sum(n for _, n in ordered)
    if len(ordered) <= 1:
        return plural(total, "finding")
    return f"{plural(total, 'finding')}: " + ", ".join(f"{n} {_label(s.value)}" for s, n in ordered)


def _row(c: ClauseCoverage) -> ClauseRow:
    worst = c.status
    if worst is not None:
        status, cls = _label(worst.value), f"status-{worst.value}"
    else:
        status, cls = REPORT_STATUS, "status-report"
    return ClauseRow(
        clause=c.clause,
        title=c.title,
        asks=c.asks,
        rules=tuple(_rule_line(r) for r in c.rules),
        note=c.note,
        status=status,
        status_cls=cls,
    )


def _gap(c: ClauseCoverage) -> str:
    template = NOT_IN_SCOPE if c.coverage == "not_in_scope" else NO_RULE
    return template.format(title=c.title, clause=c.clause, note=c.note).strip()


def framework_views(mapping: FrameworkMapping) -> tuple[FrameworkView, ...]:
    """One view per cited framework, clauses in the catalogue's order."""
    return tuple(
        FrameworkView(
            title=fw.title,
            citation=fw.citation,
            covered=tuple(_row(c) for c in fw.clauses if c.coverage in ("evidence", "report")),
            not_in_scope=tuple(_gap(c) for c in fw.clauses if c.coverage == "not_in_scope"),
            no_rule=tuple(_gap(c) for c in fw.clauses if c.coverage == "no_rule"),
        )
        for fw in mapping.frameworks
    )


def intro(views: tuple[FrameworkView, ...]) -> str:
    """The sentence above the tables, counting what is and is not covered."""
    covered = sum(len(v.covered) for v in views)
    gaps = sum(len(v.not_in_scope) + len(v.no_rule) for v in views)
    return (
        f"The policy's rules cite {plural(len(views), 'framework')}. For each, the clauses this "
        f"audit gives evidence for ({covered}) list the rules whose findings serve as evidence "
        f"and the worst status among them; the clauses it does not cover ({gaps}) are listed "
        "after them. A passing finding is evidence towards a clause, not proof of conformity."
    )
