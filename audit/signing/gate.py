"""The release gate on a signed report: its verdict, and a trusted reviewer's decision.

A report opens the gate when it verifies (every signature valid, nothing changed but the
permitted form fill and signature) and either its verdict is pass, or the reviewer approved
with conditions that name every blocking rule. With `require_approval`, a trusted reviewer's
approval is needed in both cases; an approval that releases a failing report must always come
from a trusted reviewer (`--trust-reviewer`), or anyone could approve their own. A rejection
always shuts the gate; so does an incomplete audit (verdict error), whatever a reviewer wrote,
because its findings are not all there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from audit.records import BLOCKING_STATUSES, Verdict
from audit.signing.review import Decision
from audit.signing.verify import ReviewerSignature, VerificationReport

INVALID = "the report does not verify: {0}"
UNTRUSTED_AUDIT = "the audit signature is not trusted."
NO_REVIEW = "no reviewer has signed the report."
NO_TRUSTED_REVIEW = "the reviewer ({0}) is not trusted (--trust-reviewer)."
REJECTED = "rejected by {0}."
NO_DECISION = "the reviewer signed without a decision."
VERDICT_ERROR = "the audit is incomplete (verdict error); no approval can release it."
VERDICT_FAIL = "the verdict is fail and no reviewer approved it with conditions."
NOT_COVERED = "the conditions do not name the blocking rule(s): {0}."
PLAIN_APPROVAL_OF_FAIL = "a failing report needs 'approve with conditions' naming each rule."


@dataclass(frozen=True)
class GateResult:
    """Open or shut, why, and the review that decided it (if any)."""

    open: bool
    reasons: list[str] = field(default_factory=list)
    review: ReviewerSignature | None = None


def blocking_rules(findings: Mapping[str, Any] | None) -> list[str]:
    """Rule ids of the findings that block a release (fail, error, insufficient data)."""
    blocking = {s.value for s in BLOCKING_STATUSES}
    rules = [
        str(f.get("rule"))
        for f in (findings or {}).get("findings", [])
        if isinstance(f, Mapping) and f.get("status") in blocking
    ]
    return list(dict.fromkeys(rules))


def uncovered(rules: list[str], notes: str | None) -> list[str]:
    """The rules the notes do not name as a whole word (ids contain letters, digits, _ . -)."""
    text = notes or ""
    return [r for r in rules if not re.search(rf"(?<![\w.-]){re.escape(r)}(?![\w.-])", text)]


def gate(report: VerificationReport, *, require_approval: bool) -> GateResult:
    """Whether this verified report may be released."""
    if not report.valid:
        return GateResult(False, [INVALID.format("; ".join(report.problems))])
    if report.trusted is False:
        return GateResult(False, [UNTRUSTED_AUDIT])
    review = report.reviews[-1] if report.reviews else None
    if review is not None and review.decision == Decision.REJECT:
        return GateResult(False, [REJECTED.format(review.signer)], review)
    if report.verdict == Verdict.ERROR.value or report.verdict not in {v.value for v in Verdict}:
        return GateResult(False, [VERDICT_ERROR], review)
    if review is None:
        if require_approval:
            return GateResult(False, [NO_REVIEW])
        ok = report.verdict == Verdict.PASS.value
        return GateResult(ok, [] if ok else [VERDICT_FAIL])
    approval_needed = require_approval or report.verdict != Verdict.PASS.value
    if approval_needed and review.trusted is not True:
        return GateResult(False, [NO_TRUSTED_REVIEW.format(review.signer)], review)
    if review.decision is None:
        return GateResult(False, [NO_DECISION], review)
    if report.verdict == Verdict.PASS.value:
        return GateResult(True, [], review)
    if review.decision != Decision.CONDITIONS:
        return GateResult(False, [PLAIN_APPROVAL_OF_FAIL], review)
    missing = uncovered(blocking_rules(report.findings), review.notes)
    if missing:
        return GateResult(False, [NOT_COVERED.format(", ".join(missing))], review)
    return GateResult(True, [], review)
