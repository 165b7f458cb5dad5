"""The circuits check's part of the report: heatmaps, the circuit and its confirmations."""

from __future__ import annotations

from collections.abc import Sequence

from audit.plugin import CheckPlugin
from audit.presentation.view import CheckSection, SectionInput, metrics_table
from audit.records import Finding, Metric


def section(plugin: CheckPlugin, inputs: SectionInput) -> CheckSection:
    out = CheckSection(plugin.name, plugin.title)
    if inputs.metrics:
        out.tables.append(metrics_table(inputs.metrics, f"{plugin.title} measurements"))
    return out


def plain_sentence(finding: Finding, metrics: Sequence[Metric], confidence_pct: str) -> str | None:
    return None
