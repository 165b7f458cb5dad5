"""An example third-party check, registered through the `audit.checks` entry point.

It lives outside the `audit` package on purpose: `tests/integration/test_plugin_boundary.py`
installs it the way a package would (a `.dist-info` folder with an `entry_points.txt` on the
path) and shows that it appears in the spec, `audit policy lint`, `audit policy schema`,
findings.json, the PDF and the model card without any edit to `audit`.

The check itself is small but real: does the model predict each class about as often as the
class occurs? A classifier that predicts the majority class far more often than it occurs is
a common, cheap-to-spot failure that the per-group metrics can hide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from audit.checks.base import CheckContext, CheckOutput
from audit.plugin import CheckPlugin, MetricInfo
from audit.presentation.format import fmt, fmt_ci
from audit.presentation.view import Cell, CheckSection, SectionInput, table
from audit.records import Metric
from audit.stats import wilson_interval
from audit.strict import Strict

NAME = "prediction_balance"


class PredictionBalanceSpec(Strict):
    """`checks.prediction_balance`: no options but the minimum class share to report."""

    min_share: float = Field(0.0, ge=0.0, lt=1.0)


@dataclass(frozen=True)
class PredictionBalanceEvidence:
    """Per class: its share among the labels and among the predictions."""

    classes: tuple[str, ...]
    label_share: tuple[float, ...]
    predicted_share: tuple[float, ...]


class PredictionBalancePlugin(CheckPlugin):
    """How often the model predicts each class, against how often it occurs."""

    name = NAME
    title = "Prediction balance"
    spec_model = PredictionBalanceSpec
    catalogue = (
        MetricInfo(
            "predicted_share", ("group",), "rate", "neither", "share of predictions of the class"
        ),
        MetricInfo(
            "share_gap", ("group",), "difference", "lower", "predicted share minus label share"
        ),
        MetricInfo(
            "max_abs_share_gap", (), "difference", "lower", "largest |share gap| over classes"
        ),
    )
    headline = ("max_abs_share_gap",)
    methodology = (
        "Each class's share of the predictions, with a Wilson interval at the policy's level "
        "({confidence_pct}), against its share of the labels."
    )
    limits = "Balanced predictions are necessary, not sufficient, for a useful classifier."

    def measure(self, ctx: CheckContext) -> CheckOutput:
        y, pred = ctx.data.y, ctx.predictions.label
        n, k = len(y), ctx.predictions.proba.shape[1]
        label = np.bincount(y, minlength=k) / n
        predicted_counts = np.bincount(pred, minlength=k)
        metrics = []
        for c in range(k):
            low, high = wilson_interval(int(predicted_counts[c]), n, ctx.confidence)
            group = str(ctx.data.classes[c]) if c < len(ctx.data.classes) else str(c)
            share = predicted_counts[c] / n
            metrics += [
                Metric(NAME, "predicted_share", share, group=group, ci_low=low, ci_high=high, n=n),
                Metric(NAME, "share_gap", share - label[c], group=group, n=n),
            ]
        gap = float(np.max(np.abs(predicted_counts / n - label)))
        metrics.append(Metric(NAME, "max_abs_share_gap", gap, n=n))
        evidence = PredictionBalanceEvidence(
            classes=tuple(str(c) for c in ctx.data.classes[:k]),
            label_share=tuple(float(v) for v in label),
            predicted_share=tuple(float(v) for v in predicted_counts / n),
        )
        return CheckOutput(metrics=tuple(metrics), evidence={"balance": evidence})

    def section(self, inputs: SectionInput) -> CheckSection:
        section = CheckSection(self.name, self.title)
        shares = {m.group: m for m in inputs.metrics if m.name == "predicted_share"}
        gaps = {m.group: m for m in inputs.metrics if m.name == "share_gap"}
        rows = [
            (
                Cell(str(group)),
                Cell(fmt(m.value), "num"),
                Cell(fmt_ci(m.ci_low, m.ci_high), "num"),
                Cell(fmt(gaps[group].value) if group in gaps else "—", "num"),
            )
            for group, m in shares.items()
        ]
        level = inputs.settings.confidence_pct
        section.tables.append(
            table(
                f"Predicted share per class, with {level} Wilson intervals",
                ("Class", "Predicted share", "CI", "Gap to label share"),
                rows,
            )
        )
        return section
