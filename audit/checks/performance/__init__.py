"""Performance: accuracy and calibration, the context for every other number.

The plugin declares the check; the work is in `check.py`, imported only when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit.checks.performance.spec import PerformanceSpec
from audit.plugin import CheckPlugin, MetricInfo

if TYPE_CHECKING:
    from audit.checks.base import CheckContext, CheckOutput


class PerformancePlugin(CheckPlugin):
    """Accuracy, balanced accuracy, AUC and calibration on the whole audit set."""

    name = "performance"
    title = "Performance"
    spec_model = PerformanceSpec
    catalogue = (
        MetricInfo("accuracy", (), "rate", "higher", "share of predictions that are right"),
        MetricInfo(
            "balanced_accuracy", (), "rate", "higher", "mean per-class recall (chance = 1/K)"
        ),
        MetricInfo("auc", (), "auc", "higher", "ROC AUC (one-vs-rest mean for multiclass)"),
        MetricInfo(
            "expected_calibration_error",
            (),
            "probability",
            "lower",
            "mean gap between confidence and accuracy over confidence bins",
        ),
    )
    headline = ("accuracy", "balanced_accuracy", "auc", "expected_calibration_error")
    methodology = "Accuracy and calibration on the audit dataset, as context for the other checks."
    limits = (
        "Performance on a held-out sample says nothing about data the sample does not represent."
    )

    evidence_type = type(None)  # its metrics say everything

    def measure(self, ctx: CheckContext) -> CheckOutput:
        from audit.checks.performance.check import PerformanceCheck

        return PerformanceCheck().measure(ctx)


__all__ = ["PerformancePlugin", "PerformanceSpec"]
