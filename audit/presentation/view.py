"""The report's neutral view types: what a check's section hands the templates.

Checks build their sections from these (they may not import `audit.report`); the report core
lays the sections out. Every number is formatted here or in `audit.presentation.format`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.presentation import plots
from audit.presentation.format import clip, fmt, fmt_ci, pct, svg_uri
from audit.records import Finding, Metric, Status

MAX_TABLE_ROWS = 200
MAX_EXAMPLES = 9


@dataclass(frozen=True)
class Cell:
    text: str
    cls: str = ""


@dataclass(frozen=True)
class Table:
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    omitted: int = 0  # rows not shown (the full list is in findings.json)
    cls: str = ""
    column_cls: tuple[str, ...] = ()  # "num" right-aligns a header over numbers


@dataclass(frozen=True)
class Figure:
    uri: str
    alt: str
    caption: str
    cls: str = ""  # "grid": an image grid drawn at full text width


@dataclass
class CheckSection:
    """One check's part of the report: its state (set by the report) and what it shows."""

    check: str
    title: str
    state: str = "ran"
    state_message: str = ""
    empty_message: str = ""
    sentences: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    text_examples: list[dict[str, Any]] = field(default_factory=list)
    evidence_error: str = ""  # evidence that could not be drawn; the numbers still are


@dataclass(frozen=True)
class ReportSettings:
    """The policy's statistical settings every section states (never hard-coded)."""

    confidence: float = 0.95
    min_group_size: int = 30
    multiple_comparisons: str = "holm"

    @property
    def confidence_pct(self) -> str:
        return pct(self.confidence)


@dataclass(frozen=True)
class SectionInput:
    """What a check's `section` gets: its own metrics, findings and evidence, and settings."""

    metrics: tuple[Metric, ...]
    findings: tuple[Finding, ...]
    evidence: object  # the check's declared `evidence_type`, or None (sections narrow it)
    settings: ReportSettings


def table(
    caption: str, columns: Sequence[str], rows: Iterable[Sequence[Cell]], *, cls: str = ""
) -> Table:
    """A table of at most MAX_TABLE_ROWS rows; a column of numbers gets a right-aligned header."""
    kept = [tuple(r) for r in rows]
    numeric = tuple("num" if kept and "num" in kept[0][i].cls else "" for i in range(len(columns)))
    return Table(
        caption=caption,
        columns=tuple(columns),
        column_cls=numeric,
        rows=tuple(kept[:MAX_TABLE_ROWS]),
        omitted=max(0, len(kept) - MAX_TABLE_ROWS),
        cls=cls,
    )


def figure(svg: str, alt: str, caption: str, cls: str = "") -> Figure:
    return Figure(uri=svg_uri(svg), alt=clip(alt, 300), caption=caption, cls=cls)


def value_ci(m: Metric | None) -> str:
    if m is None:
        return "—"
    ci = "" if m.ci_low is None else f" ({fmt_ci(m.ci_low, m.ci_high)})"
    return fmt(m.value) + ci


def threshold_lines(findings: Iterable[Finding], check: str, name: str) -> list[plots.Line]:
    """The distinct policy thresholds on one metric, labelled with their rule ids."""
    seen: dict[float, list[str]] = defaultdict(list)
    ops: dict[float, str] = {}
    for f in findings:
        if f.threshold is None or f.status == Status.SKIPPED:
            continue
        if f.check == check and f.metric_name == name:
            if f.rule not in seen[f.threshold.value]:
                seen[f.threshold.value].append(f.rule)
            ops[f.threshold.value] = f.threshold.op
    return [
        plots.Line(v, f"policy {ops[v]} {v:g} ({', '.join(rules)})")
        for v, rules in sorted(seen.items())
    ]


def metrics_table(metrics: Sequence[Metric], caption: str) -> Table:
    rows = [
        (
            Cell(clip(m.subject)),
            Cell(m.name),
            Cell(fmt(m.value), "num"),
            Cell(fmt_ci(m.ci_low, m.ci_high), "num"),
            Cell(fmt(m.n), "num"),
        )
        for m in metrics
    ]
    return table(caption, ("Subject", "Metric", "Value", "CI", "n"), rows, cls="metrics")


__all__ = [
    "MAX_EXAMPLES",
    "MAX_TABLE_ROWS",
    "Cell",
    "CheckSection",
    "Figure",
    "ReportSettings",
    "SectionInput",
    "Table",
    "figure",
    "metrics_table",
    "table",
    "threshold_lines",
    "value_ci",
]
