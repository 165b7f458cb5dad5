"""Plain-language sentences about the bias measurements, for non-engineer reviewers.

They state what was measured and how sure we are; they never judge against a threshold
(the report adds the policy's requirement next to them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from audit.checks.bias._groups import MISSING
from audit.records import EXCLUDED_SHARE, Finding, Metric

_LISTED = 5


def _ci(metric: Metric, confidence: float) -> str:
    if metric.ci_low is None or metric.ci_high is None:
        return ""
    return f"{confidence:.0%} CI {metric.ci_low:.2f}–{metric.ci_high:.2f}"


def _iso(label: object) -> str:
    """A name from the data inside a bidi isolate (FSI…PDI): a right-to-left override in a
    group name then cannot reverse the rest of the sentence, numbers included."""
    return f"\u2068{label}\u2069"


def _prefix(method: str | None) -> str:
    return "" if method is None else f"For {method.replace('=', ' ')}, "


def _impact(
    feature: str, method: str | None, by_name: dict[str, list[Metric]], confidence: float
) -> list[str]:
    ratios = by_name.get("impact_ratio", [])
    rates = {m.group: m for m in by_name.get("selection_rate", [])}
    if len(ratios) < 2:
        return []
    low = min(ratios, key=lambda m: m.value)
    top = max(ratios, key=lambda m: m.value)
    if low.group == top.group or low.group not in rates or top.group not in rates:
        return []
    ci = _ci(low, confidence)
    detail = f"{ci}; " if ci else ""
    return [
        f"{_prefix(method)}In {_iso(feature)}, the group {_iso(low.group)} was selected at "
        f"{low.value:.2f} times the rate of {_iso(top.group)} ({detail}selection rates "
        f"{rates[low.group].value:.1%} and {rates[top.group].value:.1%})."
    ]


def _range(metrics: list[Metric], what: str) -> str | None:
    if len(metrics) < 2:
        return None
    low = min(metrics, key=lambda m: m.value)
    high = max(metrics, key=lambda m: m.value)
    return (
        f"{what} range from {low.value:.1%} ({_iso(low.group)}) "
        f"to {high.value:.1%} ({_iso(high.group)})"
    )


def _errors(feature: str, method: str | None, by_name: dict[str, list[Metric]]) -> list[str]:
    ranges = (
        _range(by_name.get("false_positive_rate", []), "false positive rates"),
        _range(by_name.get("false_negative_rate", []), "false negative rates"),
    )
    parts = [p for p in ranges if p]
    if not parts:
        return []
    text = "; ".join(parts)
    return [f"{_prefix(method)}In {_iso(feature)}, {text}."]


def _small(feature: str, counts: list[Metric], min_group_size: int) -> list[str]:
    small = [m for m in counts if m.value < min_group_size]
    if not small:
        return []
    listed = ", ".join(f"{_iso(m.group)} (n={int(m.value)})" for m in small[:_LISTED])
    more = f" and {len(small) - _LISTED} more" if len(small) > _LISTED else ""
    noun = "group has" if len(small) == 1 else "groups have"
    return [
        f"In {_iso(feature)}, {len(small)} {noun} fewer than {min_group_size} rows, too few to "
        f"judge, so rules on them and on the feature's aggregates are reported as insufficient "
        f"data: {listed}{more}."
    ]


def _excluded(feature: str, declared: list[Metric], below_share: float) -> list[str]:
    listed = ", ".join(f"{_iso(m.group)} (n={m.n}, {m.value:.2%})" for m in declared[:_LISTED])
    more = f" and {len(declared) - _LISTED} more" if len(declared) > _LISTED else ""
    noun = "group is" if len(declared) == 1 else "groups are"
    return [
        f"In {_iso(feature)}, {len(declared)} {noun} under {below_share:.0%} of the rows and, as "
        f"the policy allows, left out of the aggregates and impact ratios (their rates are "
        f"listed, not judged): {listed}{more}."
    ]


def sentences(
    metrics: list[Metric],
    *,
    min_group_size: int,
    confidence: float,
    missing: Mapping[str, int],
    skipped: Sequence[tuple[str, int]] = (),
    max_intersection_groups: int = 0,
    below_share: float | None = None,
) -> list[str]:
    """One or more sentences per feature and intersection, plus notes on missing values."""
    if not metrics:
        return ["No sensitive features were given, so no groups could be compared."]
    out = [
        f"{count} rows have no recorded {feature}; they are kept as the group {MISSING!r}."
        for feature, count in missing.items()
    ]
    judged: dict[tuple[str, str | None], dict[str, list[Metric]]] = defaultdict(
        lambda: defaultdict(list)
    )
    counts: dict[str, list[Metric]] = defaultdict(list)
    declared: dict[str, list[Metric]] = defaultdict(list)
    for m in metrics:
        if m.name == EXCLUDED_SHARE and m.feature is not None:
            declared[m.feature].append(m)
    left_out = {(m.feature, m.group) for ms in declared.values() for m in ms}
    for m in metrics:
        # every group metric names its feature
        if m.group is None or m.feature is None or (m.feature, m.group) in left_out:
            continue
        if m.name == "count":
            counts[m.feature].append(m)
        elif m.n is not None and m.n >= min_group_size:
            judged[(m.feature, m.method)][m.name].append(m)
    for (feature, method), by_name in judged.items():
        out += _impact(feature, method, by_name, confidence)
        out += _errors(feature, method, by_name)
    for feature, rows in counts.items():
        out += _small(feature, rows, min_group_size)
    for feature, rows in declared.items():
        out += _excluded(feature, rows, below_share or 0.0)
    out += [
        f"The intersection {name} splits the rows into {groups:,} groups, more than "
        f"max_intersection_groups={max_intersection_groups}, so it was not measured."
        for name, groups in skipped
    ]
    return out


_RATIO_FINDINGS = frozenset({"demographic_parity_ratio", "impact_ratio"})


def plain_ratio(finding: Finding, metrics: Sequence[Metric], confidence_pct: str) -> str | None:
    """A judged selection-rate ratio in words, naming the groups it compares:
    "In sex, Female is selected at 34% of the rate of Male (95% CI 31% to 37%); the policy
    requires at least 80%." None for other findings (the generic sentence serves them)."""
    metric, threshold = finding.metric, finding.threshold
    if finding.metric_name not in _RATIO_FINDINGS or metric is None or threshold is None:
        return None
    rates = [
        m
        for m in metrics
        if m.name == "selection_rate"
        and m.feature == metric.feature
        and m.method == metric.method
        and m.group is not None
    ]
    if len(rates) < 2:
        return None
    if finding.metric_name == "impact_ratio":
        low = next((m for m in rates if m.group == metric.group), None)
        ratio = metric.value
        if low is None or ratio <= 0:
            return None
        low_rate = low.value
        # the reference group: the one whose rate the ratio divided by
        top = min(rates, key=lambda m: abs(m.value * ratio - low_rate))
    else:
        low, top = min(rates, key=lambda m: m.value), max(rates, key=lambda m: m.value)
    # name groups only when they are the ones the ratio compared (exclusions can change that)
    if low.group == top.group or top.value <= 0 or abs(low.value / top.value - metric.value) > 1e-6:
        return None
    ci = (
        f"; {confidence_pct} CI of the ratio {metric.ci_low:.0%} to {metric.ci_high:.0%}"
        if metric.ci_low is not None and metric.ci_high is not None
        else ""
    )
    bound = {"ci_low": " for the lower end of the interval", "ci_high": " for its upper end"}
    ops = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}
    where = f"{_prefix(metric.method)}{'in' if metric.method else 'In'} {_iso(metric.feature)}"
    return (
        f"{where}, {_iso(low.group)} is selected at {metric.value:.0%} of "
        f"the rate of {_iso(top.group)} ({low.value:.1%} against {top.value:.1%}{ci}); "
        f"the policy requires {ops[threshold.op]} {threshold.value:.0%}"
        f"{bound.get(threshold.on, '')}."
    )
