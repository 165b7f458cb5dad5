"""How numbers and strings appear in the report: one place, so every section agrees.

A value that is missing prints as an em dash, never as "None".
"""

from __future__ import annotations

import base64

from audit.records import Threshold

MAX_CELL_CHARS = 160


def fmt(value: float | int | None) -> str:
    """Numbers as a reader wants them: counts whole, rates to three decimals."""
    if value is None:
        return "—"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"


def fmt_cell(value: float) -> str:
    """A compact feature value for narrow table columns: integers whole, others short."""
    if float(value).is_integer():
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def fmt_ci(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"{fmt(low)}–{fmt(high)}"


def clip(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """Shorten very long strings for table cells; findings.json keeps the full text."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def svg_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def threshold_text(threshold: Threshold | None) -> str:
    """A rule's bound as text; a finding about a check run has none and prints a dash."""
    return "—" if threshold is None else str(threshold)


def pct(level: float) -> str:
    """A confidence level as the report prints it: 0.95 -> "95%", 0.9 -> "90%"."""
    return f"{100 * level:g}%"


__all__ = [
    "MAX_CELL_CHARS",
    "clip",
    "fmt",
    "fmt_cell",
    "fmt_ci",
    "pct",
    "svg_uri",
    "threshold_text",
]
