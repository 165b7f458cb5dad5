"""Findings in words, for reviewers who are not engineers (issue #20, "Plain language").

The findings table keeps the rule's own terms (metric names, operators, `ci_low`); the
summary's "What needs attention" says the same thing as a sentence: what was measured, on whom,
what the audit found with its interval, and what the policy asks, in words. A check may word
its own metrics better (`CheckPlugin.plain_sentence`, e.g. the bias check names the groups
compared); this is the sentence for any other metric, built from the metric catalogue's
one-line meaning.
"""

from __future__ import annotations

from audit.plugin import MetricInfo
from audit.presentation.format import fmt
from audit.records import Finding, Metric, Status, Threshold

_OPS = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}
_BOUND = {
    "ci_low": "for the lower end of its {pct} interval",
    "ci_high": "for the upper end of its {pct} interval",
}
_NOT_JUDGED = frozenset({Status.ERROR, Status.INSUFFICIENT_DATA, Status.SKIPPED})


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 finding`, `3 findings`: a count with its noun in the right number."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


_SHARES = frozenset({"rate", "share", "probability"})


def number(value: float, unit: str | None) -> str:
    """Rates and shares as percentages (`48%`, `3.5%`); anything else as the tables print it."""
    if unit in _SHARES:
        return f"{100 * value:.1f}%" if abs(value) < 0.1 else f"{100 * value:.0f}%"
    return fmt(value)


def requirement(threshold: Threshold, confidence_pct: str, unit: str | None = None) -> str:
    """A rule's bound in words: `at least 0.800 for the lower end of its 95% interval`."""
    text = f"{_OPS[threshold.op]} {number(threshold.value, unit)}"
    if threshold.on in _BOUND:
        text += " " + _BOUND[threshold.on].format(pct=confidence_pct)
    return text


def measured(metric: Metric, confidence_pct: str, unit: str | None = None) -> str:
    """A value with its interval: `0.340 (95% CI 0.310 to 0.370)`, or `48% (...)`."""
    text = number(metric.value, unit)
    if metric.ci_low is not None and metric.ci_high is not None:
        low, high = number(metric.ci_low, unit), number(metric.ci_high, unit)
        text += f" ({confidence_pct} CI {low} to {high})"
    return text


def _subject(metric: Metric) -> str:
    subject = metric.subject
    return "" if subject == "overall" else f" for {subject}"


def generic_sentence(finding: Finding, info: MetricInfo | None, confidence_pct: str) -> str:
    """A finding in words, from the metric catalogue's meaning of its metric."""
    what = info.meaning if info is not None else finding.metric_name.replace("_", " ")
    # a meaning may open with its own article ("the larger of ..."); say "The" once
    what = what[4:] if what.lower().startswith("the ") else what
    metric = finding.metric
    subject = _subject(metric) if metric is not None else ""
    if finding.status in _NOT_JUDGED or metric is None or finding.threshold is None:
        # the judge's message says why ("n = 12 is below the policy's minimum ...")
        reason = finding.message.split("; waived", 1)[0].split(": ", 1)[-1].rstrip(". ")
        return f"The {what}{subject} could not be judged: {reason}."
    unit = info.unit if info is not None else None
    head = f"The {what}{subject} is {measured(metric, confidence_pct, unit)}"
    need = requirement(finding.threshold, confidence_pct, unit)
    return f"{head}; the policy requires {need}."
