"""The robustness check's report section."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from audit.presentation import plots
from audit.presentation.format import clip, fmt, fmt_cell
from audit.presentation.view import (
    MAX_EXAMPLES,
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
from audit.records import Metric

if TYPE_CHECKING:
    from audit.plugin import CheckPlugin

SEVERITY_CURVES = (
    ("accuracy", "Accuracy"),
    ("flip_rate", "Flip rate"),
    ("accuracy_ratio", "Accuracy relative to clean"),
)


def section(plugin: CheckPlugin, inputs: SectionInput) -> CheckSection:
    """Severity curves per family, the adversarial ε curve, flipped examples and tables."""
    section = CheckSection(plugin.name, plugin.title)
    metrics = list(inputs.metrics)
    level = inputs.settings.confidence_pct
    for name, label in SEVERITY_CURVES:
        graded = [m for m in metrics if m.name == name and m.severity is not None]
        if not graded:
            continue
        families: dict[str, list[Metric]] = defaultdict(list)
        for m in graded:
            families[m.perturbation or "?"].append(m)
        series = []
        for family, ms in sorted(families.items()):
            ms = sorted(ms, key=lambda m: m.severity or 0)
            has_ci = all(m.ci_low is not None for m in ms)
            series.append(
                plots.Series(
                    family,
                    tuple(float(m.severity or 0) for m in ms),
                    tuple(m.value for m in ms),
                    tuple(m.ci_low or 0.0 for m in ms) if has_ci else None,
                    tuple(m.ci_high or 0.0 for m in ms) if has_ci else None,
                )
            )
        section.figures.append(
            figure(
                plots.curves(
                    series,
                    threshold_lines(inputs.findings, "robustness", name),
                    xlabel="severity",
                    ylabel=name,
                    title=f"{label} by severity, per perturbation family",
                    xticks=range(1, 6),
                ),
                f"{label} against severity for each perturbation family",
                f"{label} against severity (1 = mildest, 5 = harshest); bands are {level} Wilson "
                "intervals, dashed lines policy thresholds.",
            )
        )
    ev = inputs.evidence
    curve = ev.get("epsilon_curve")
    if curve and len(curve.get("epsilon", ())) > 0:
        norm = str(curve.get("norm", ""))
        s = plots.Series(
            "robust accuracy",
            tuple(float(e) for e in curve["epsilon"]),
            tuple(float(a) for a in curve["accuracy"]),
        )
        section.figures.append(
            figure(
                plots.curves(
                    [s],
                    [],
                    xlabel=f"ε ({norm})",
                    ylabel="accuracy",
                    title=f"Adversarial accuracy against ε ({norm})",
                ),
                "Accuracy under adversarial attack against perturbation radius",
                "Accuracy under attack at each radius ε. Attacks can only show weakness, so "
                "this is an upper bound on the true robust accuracy.",
            )
        )
    images = list(ev.get("flipped_images", ()))[:MAX_EXAMPLES]
    if images:
        pairs = [
            plots.ImagePair(
                np.asarray(e["before"]),
                np.asarray(e["after"]),
                f"pred {e['pred']}",
                f"{e['perturbation']}@{e['severity']} → {e['pred_after']}",
            )
            for e in images
        ]
        section.figures.append(
            figure(
                plots.image_grid(pairs),
                "Original and perturbed images whose predicted class changed",
                "Each pair: the original input and its perturbed copy, with both predictions.",
                cls="grid",
            )
        )
    flipped = ev.get("flipped_rows")
    if flipped and flipped.get("rows"):
        columns = [str(c) for c in flipped["columns"]]
        rows = []
        for r in flipped["rows"]:
            before, after = list(r["before"]), list(r["after"])
            rows.append(
                (
                    Cell(f"{r['perturbation']}@{r['severity']}"),
                    Cell(f"{r['pred']} → {r['pred_after']}", "num"),
                    *(
                        Cell(
                            fmt_cell(a) if a == b else f"{fmt_cell(b)} → {fmt_cell(a)}",
                            "num" if a == b else "num changed",
                        )
                        for b, a in zip(before, after, strict=True)
                    ),
                )
            )
        section.tables.append(
            table(
                "Tabular rows whose prediction flipped (changed cells are marked)",
                ("Perturbation", "Prediction", *(clip(c, 40) for c in columns)),
                rows,
                cls="flipped",
            )
        )
    graded = {(m.perturbation, m.severity) for m in metrics if m.severity is not None}
    if graded:
        section.tables.append(_severity_table(metrics, sorted(graded, key=str), level))
    other = [m for m in metrics if m.severity is None]
    if other:
        section.tables.append(metrics_table(other, "Adversarial and other robustness measurements"))
    return section


def _severity_table(
    metrics: Sequence[Metric], keys: Sequence[tuple[Any, Any]], level: str
) -> Table:
    """One row per family and severity, the graded metrics side by side."""
    by_key = {(m.perturbation, m.severity, m.name): m for m in metrics if m.severity is not None}
    rows = []
    for family, severity in keys:
        found = [by_key.get((family, severity, name)) for name, _ in SEVERITY_CURVES]
        n = next((m.n for m in found if m is not None and m.n is not None), None)
        rows.append(
            (
                Cell(f"{family}"),
                Cell(str(severity), "num"),
                *(Cell(value_ci(m), "num") for m in found),
                Cell(fmt(n), "num"),
            )
        )
    return table(
        f"Graded perturbations: each family at each severity, with {level} confidence intervals",
        ("Family", "Severity", *(label for _, label in SEVERITY_CURVES), "n"),
        rows,
        cls="severity",
    )
