"""The bias check's report section."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from audit.checks.bias.evidence import BiasEvidence
from audit.presentation import plots
from audit.presentation.format import clip, fmt
from audit.presentation.view import (
    Cell,
    CheckSection,
    SectionInput,
    Table,
    figure,
    metrics_table,
    table,
    threshold_lines,
    value_ci,
)
from audit.records import EXCLUDED_SHARE, Metric

if TYPE_CHECKING:
    from audit.plugin import CheckPlugin

GROUP_METRICS = (
    ("selection_rate", "Selection rate"),
    ("true_positive_rate", "TPR"),
    ("false_positive_rate", "FPR"),
    ("false_negative_rate", "FNR"),
    ("precision", "Precision"),
    ("accuracy", "Accuracy"),
    ("expected_calibration_error", "ECE"),
)
AGGREGATES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
)


def section(plugin: CheckPlugin, inputs: SectionInput) -> CheckSection:
    """Per-group tables (with the NYC LL144 layout where impact ratios exist), a forest plot
    per aggregate, and the check's plain-language sentences."""
    section = CheckSection(plugin.name, plugin.title)
    metrics = list(inputs.metrics)
    min_group = inputs.settings.min_group_size
    level = inputs.settings.confidence_pct
    per_group: dict[tuple[str, str | None], dict[str, dict[str, Metric]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for m in metrics:
        if m.group is not None:
            per_group[(m.feature or "", m.method)][m.group][m.name] = m
    for (feature, method), groups in per_group.items():
        label = feature + (f" ({method})" if method else "")
        present = [(k, t) for k, t in GROUP_METRICS if any(k in g for g in groups.values())]
        rows = []
        for group, by_name in groups.items():
            n = next((m.n for m in by_name.values() if m.n is not None), None)
            if n is None and "count" in by_name:
                n = int(by_name["count"].value)
            small = n is not None and n < min_group
            rows.append(
                (
                    Cell(clip(group), "small" if small else ""),
                    Cell(fmt(n) + (" (too small)" if small else ""), "num"),
                    *(Cell(value_ci(by_name.get(k)), "num") for k, _ in present),
                )
            )
        section.tables.append(
            table(
                f"Per-group metrics for {label}, with {level} confidence intervals",
                ("Group", "n", *(t for _, t in present)),
                rows,
                cls="groups",
            )
        )
        if any("impact_ratio" in g for g in groups.values()):
            ll144 = [
                (
                    Cell(clip(group)),
                    Cell(fmt(next((m.n for m in g.values() if m.n is not None), None)), "num"),
                    Cell(value_ci(g.get("selection_rate")), "num"),
                    Cell(value_ci(g.get("impact_ratio")), "num"),
                )
                for group, g in groups.items()
            ]
            section.tables.append(
                table(
                    f"Impact ratios for {label} (NYC Local Law 144 layout): each group's "
                    "selection rate divided by the most-selected group's",
                    ("Category", "Number of applicants", "Selection rate", "Impact ratio"),
                    ll144,
                    cls="ll144",
                )
            )
    aggregates = [m for m in metrics if m.group is None and m.name in AGGREGATES]
    for name in AGGREGATES:
        items = [m for m in aggregates if m.name == name]
        if not items:
            continue
        intervals = [
            plots.Interval(
                (m.feature or "overall") + (f" ({m.method})" if m.method else ""),
                m.value,
                m.ci_low,
                m.ci_high,
            )
            for m in items
        ]
        lines = threshold_lines(inputs.findings, "bias", name)
        title = name.replace("_", " ").capitalize()
        section.figures.append(
            figure(
                plots.forest(intervals, lines, xlabel=name, title=title),
                f"Forest plot of {name} per sensitive feature with confidence intervals",
                f"{title} per sensitive feature: point estimate and bootstrap CI; dashed lines "
                "are policy thresholds.",
            )
        )
    if aggregates:
        section.tables.append(metrics_table(aggregates, "Aggregate fairness metrics"))
    section.tables.extend(_left_out_and_unknown(metrics, inputs.evidence))
    if isinstance(inputs.evidence, BiasEvidence):
        section.sentences.extend(inputs.evidence.sentences)
        for feature, shown in inputs.evidence.examples:
            section.figures.append(
                figure(
                    plots.group_thumbnails(shown, title=f"Example images per {feature} group"),
                    f"A few images of each {feature} group",
                    f"A few images of each {feature} group, drawn at random (seeded): what the "
                    "model was shown for each group. Examples, not evidence of a disparity.",
                )
            )
    return section


def _left_out_and_unknown(metrics: list[Metric], evidence: object) -> list[Table]:
    """The groups the policy excluded from the aggregates (with n, share, selection rate and the
    policy's justification), and each feature's count of rows with no recorded value: the two
    lists NYC LL144 asks an audit to publish beside the impact ratios."""
    out = []
    rates: dict[tuple[str | None, str | None], list[Metric]] = defaultdict(list)
    for m in metrics:
        if m.name == "selection_rate":
            rates[(m.feature, m.group)].append(m)
    excluded = [m for m in metrics if m.name == EXCLUDED_SHARE]
    if excluded:
        why = evidence.justification if isinstance(evidence, BiasEvidence) else ""

        def rate(m: Metric) -> str:
            found = rates.get((m.feature, m.group), [])
            if len(found) == 1 and found[0].method is None:
                return value_ci(found[0])
            return "; ".join(f"{r.method}: {value_ci(r)}" for r in found) or "—"

        out.append(
            table(
                "Groups left out of the aggregates and impact ratios by the policy's "
                f"`small_groups` (listed, not judged). Justification: {clip(why, 400) or '—'}",
                ("Feature", "Group", "n", "Share of rows", "Selection rate"),
                [
                    (
                        Cell(clip(m.feature or "")),
                        Cell(clip(m.group or "")),
                        Cell(fmt(m.n), "num"),
                        Cell(f"{m.value:.2%}", "num"),
                        Cell(rate(m), "num"),
                    )
                    for m in excluded
                ],
                cls="excluded",
            )
        )
    unknown = [m for m in metrics if m.name == "unknown_count"]
    if unknown:
        out.append(
            table(
                "Rows with no recorded value, per sensitive feature (the unknown category)",
                ("Feature", "Unknown", "Rows"),
                [
                    (Cell(clip(m.feature or "")), Cell(fmt(m.value), "num"), Cell(fmt(m.n), "num"))
                    for m in unknown
                ],
            )
        )
    return out
