"""Overall predictive performance: the context a reader needs before judging disparities.

Accuracy and balanced accuracy with Wilson intervals, ROC AUC (binary, one-vs-rest for
multiclass) and expected calibration error, all from the shared predictions.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from audit.checks.base import CheckContext, CheckOutput
from audit.records import Metric
from audit.stats import wilson_interval


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, n_bins: int) -> float:
    """ECE of the top-class confidence over equal-width bins (Guo et al., 2017)."""
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(np.float64)
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(
        np.bincount(bins, weights=correct, minlength=n_bins)
        - np.bincount(bins, weights=confidence, minlength=n_bins)
    )
    return float(gap.sum() / max(count.sum(), 1))


class PerformanceCheck:
    """Accuracy, balanced accuracy, AUC and calibration on the whole audit set."""

    def measure(self, ctx: CheckContext) -> CheckOutput:
        y, pred, proba = ctx.data.y, ctx.predictions.label, ctx.predictions.proba
        n = len(y)
        correct = int((pred == y).sum())
        low, high = wilson_interval(correct, n, ctx.confidence)
        metrics = [
            Metric(
                "performance", "accuracy", correct / n, ci_low=float(low), ci_high=float(high), n=n
            ),
            Metric(
                "performance",
                "expected_calibration_error",
                expected_calibration_error(proba, y, ctx.config.n_bins),
                n=n,
            ),
        ]
        if len(np.unique(y)) > 1:
            metrics.append(
                Metric(
                    "performance", "balanced_accuracy", float(balanced_accuracy_score(y, pred)), n=n
                )
            )
            if proba.shape[1] == 2:
                auc = roc_auc_score(y, proba[:, 1])
            else:
                present = np.unique(y)
                sub = proba[:, present] / proba[:, present].sum(axis=1, keepdims=True)
                auc = roc_auc_score(y, sub, multi_class="ovr", labels=present)
            metrics.append(Metric("performance", "auc", float(auc), n=n))
        return CheckOutput(metrics=tuple(metrics))
