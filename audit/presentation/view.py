"""The report's neutral view types: what a check's section hands the templates.

Checks build their sections from these (they may not import `audit.report`); the report core
lays the sections out. Every number is formatted here or in `audit.presentation.format`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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


# Signed attribution shades (Okabe-Ito orange and sky blue: told apart with any colour vision)
_TOWARDS_RGB = "230, 159, 0"
_AGAINST_RGB = "86, 180, 233"


@dataclass(frozen=True)
class Highlight:
    """One word (or token) of a highlighted text; `weight` is its signed attribution over
    the text's largest |attribution|, so the shade is comparable within one text only."""

    text: str
    weight: float  # in [-1, 1]; positive: towards the class the text is explained for
    marked: bool = False  # the probe placed it

    @property
    def style(self) -> str:
        rgb = _TOWARDS_RGB if self.weight >= 0 else _AGAINST_RGB
        return f"background-color: rgba({rgb}, {min(1.0, abs(self.weight)):.2f})"


@dataclass(frozen=True)
class HighlightedText:
    label: str  # e.g. "fastship: prediction 0 → 1"
    spans: tuple[Highlight, ...]


@dataclass(frozen=True)
class TextHighlights:
    """A group of highlighted texts with the legend that reads them."""

    title: str
    caption: str
    towards: str  # what the first hue means
    against: str  # what the second hue means
    marked: str  # what an outlined span is ("": none is)
    texts: tuple[HighlightedText, ...]

    @property
    def towards_style(self) -> str:
        return Highlight("", 1.0).style

    @property
    def against_style(self) -> str:
        return Highlight("", -1.0).style


def highlights(
    units: Sequence[str], attribution: Sequence[float], marked: Iterable[int] = ()
) -> tuple[Highlight, ...]:
    """Spans shaded by signed attribution, scaled by the text's largest magnitude."""
    top = max((abs(a) for a in attribution), default=0.0) or 1.0
    chosen = set(marked)
    return tuple(
        Highlight(clip(u, 40), float(a) / top, i in chosen)
        for i, (u, a) in enumerate(zip(units, attribution, strict=True))
    )


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
    text_examples: list[TextHighlights] = field(default_factory=list)
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
    "Highlight",
    "HighlightedText",
    "ReportSettings",
    "SectionInput",
    "Table",
    "TextHighlights",
    "figure",
    "highlights",
    "metrics_table",
    "table",
    "threshold_lines",
    "value_ci",
]
