"""Plain-language sentences about the bias measurements, for non-engineer reviewers.

They state what was measured and how sure we are; they never judge against a threshold
(the report adds the policy's requirement next to them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from audit.checks.bias._groups import MISSING
from audit.records import EXCLUDED_SHARE, Metric

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
