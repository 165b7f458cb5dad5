"""Per-group point estimates from fairlearn's `MetricFrame`, fed compressed rows.

A group's binary rates depend only on its four confusion counts, so instead of handing
fairlearn a million rows we hand it at most four weighted rows per group (one per confusion
cell, `sample_weight` = the count). The numbers are fairlearn's own, computed in
milliseconds whatever the dataset size; tests compare them with a MetricFrame on raw rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sklearn
import sklearn.metrics as skm
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from numpy.typing import ArrayLike

from audit.checks.bias._rates import RATE_NAMES


def _precision(
    y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
) -> float:
    """Precision, NaN (not 0 with a warning) for a group with no predicted positives."""
    return skm.precision_score(y_true, y_pred, sample_weight=sample_weight, zero_division=np.nan)


_FUNCTIONS = {
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "precision": _precision,
    "accuracy": skm.accuracy_score,
}
FAIRLEARN_METRICS = {name: _FUNCTIONS[name] for name in RATE_NAMES}

# Confusion cells as (y_true, y_pred) in the order tp, fp, fn, tn.
_CELL_TRUE = np.array([1, 0, 1, 0])
_CELL_PRED = np.array([1, 1, 0, 0])


def group_rates(
    feature: str,
    labels: tuple[str, ...],
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    tn: np.ndarray,
) -> pd.DataFrame:
    """fairlearn's per-group rates (rows in `labels` order, columns `RATE_NAMES`)."""
    weights = np.stack([tp, fp, fn, tn], axis=1).astype(np.float64)  # (G, 4)
    group, cell = np.nonzero(weights)
    w = weights[group, cell]
    # The rows are built here and valid by construction; sklearn's per-call parameter
    # validation would otherwise dominate the cost (it runs once per group and metric).
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        frame = MetricFrame(
            metrics=FAIRLEARN_METRICS,
            y_true=_CELL_TRUE[cell],
            y_pred=_CELL_PRED[cell],
            sensitive_features=pd.Series(np.asarray(labels, dtype=object)[group], name=feature),
            sample_params={name: {"sample_weight": w} for name in FAIRLEARN_METRICS},
        )
    return frame.by_group.reindex(list(labels)).astype(np.float64)
