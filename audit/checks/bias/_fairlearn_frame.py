"""fairlearn's `MetricFrame` as the reference for the check's closed-form group rates.

The check computes its rates from the four confusion counts (`_rates.group_rates`); this is
the same function through fairlearn, a drop-in the tests and `bench/bias.py` compare with to
1e-12. A group's binary rates depend only on its confusion counts, so fairlearn is handed at
most four weighted rows per group (one per confusion cell, `sample_weight` = the count)
instead of the raw rows; tests also compare it with a MetricFrame on raw rows. Its cost is
one sklearn call per group and metric, which is why the check no longer calls it.
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

from audit.checks.bias._rates import RATE_NAMES, rate_parts


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
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
) -> dict[str, np.ndarray]:
    """fairlearn's per-group rates, in group order, NaN where the denominator is zero.

    fairlearn itself says 0 for a confusion-matrix rate over no rows (sklearn normalises an
    empty row to zeros); the check reports no rate there, so the reference masks it the same.
    """
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
            sensitive_features=pd.Series(group, name="group"),
            sample_params={name: {"sample_weight": w} for name in FAIRLEARN_METRICS},
        )
    by_group = frame.by_group.reindex(range(len(weights))).astype(np.float64)
    parts = rate_parts(tp, fp, fn, tn)
    return {
        name: np.where(parts[name][1] > 0, by_group[name].to_numpy(), np.nan) for name in RATE_NAMES
    }
