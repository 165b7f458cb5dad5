"""The framework mapping: for each framework the policy's rules cite, every catalogued clause
with the rules and findings that are evidence for it, and the clauses the audit does not cover.

Built once when the audit is assembled, so findings.json and the report show the same map.
Listing the uncovered clauses of a cited framework is the point: a reviewer must see what the
audit did not show, not infer it from what is missing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from audit.policy.frameworks import Clause, catalogue
from audit.policy.model import Rule
from audit.records import (
    ClauseCoverage,
    Coverage,
    Finding,
    FrameworkCoverage,
    FrameworkMapping,
    RuleEvidence,
    Severity,
    Status,
)

# Statuses whose findings a clause's evidence counts without naming them.
UNFLAGGED = frozenset({Status.PASS, Status.SKIPPED})


def _coverage(clause: Clause, evidence: tuple[RuleEvidence, ...]) -> Coverage:
    if clause.scope == "not_in_scope":
        return "not_in_scope"
    if evidence:
        return "evidence"
    return "report" if clause.scope == "report" else "no_rule"


def framework_mapping(rules: Sequence[Rule], findings: Sequence[Finding]) -> FrameworkMapping:
    """The crosswalk of `rules` (the resolved policy's) and their `findings`."""
    cat = catalogue()
    statuses: dict[str, Counter[Status]] = defaultdict(Counter)
    flagged: dict[str, dict[Status, list[str]]] = defaultdict(lambda: defaultdict(list))
    for f in findings:
        statuses[f.rule][f.status] += 1
        if f.status not in UNFLAGGED:
            flagged[f.rule][f.status].append(f.metric.subject if f.metric else f.metric_name)
    citing: dict[tuple[str, str], list[Rule]] = defaultdict(list)
    for rule in rules:
        for c in rule.controls:
            citing[c.framework, c.clause].append(rule)
    cited = {framework for framework, _ in citing}
    frameworks = []
    for fw in cat.frameworks:
        if fw.id not in cited:
            continue
        clauses = []
        for clause in fw.clauses:
            evidence = tuple(
                RuleEvidence(
                    r.id,
                    Severity(r.severity),
                    dict(statuses.get(r.id, Counter())),
                    {s: tuple(names) for s, names in flagged.get(r.id, {}).items()},
                )
                for r in citing.get((fw.id, clause.clause), ())
            )
            clauses.append(
                ClauseCoverage(
                    clause=clause.clause,
                    title=clause.title,
                    asks=clause.asks,
                    coverage=_coverage(clause, evidence),
                    note=clause.note,
                    rules=evidence,
                )
            )
        frameworks.append(FrameworkCoverage(fw.id, fw.title, fw.citation, tuple(clauses)))
    return FrameworkMapping(catalogue_version=cat.version, frameworks=tuple(frameworks))
