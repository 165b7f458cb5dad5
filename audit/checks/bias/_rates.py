"""Group rates and fairness aggregates computed from confusion counts, vectorized.

Every bias quantity depends on the rows only through per-group confusion counts, so it is
computed here from count tables whose leading axes may hold bootstrap resamples. The
definitions follow fairlearn's (tests compare them): a rate is NaN where its denominator is
zero, and an aggregate spans the groups where the rate is defined.
"""

from __future__ import annotations

import numpy as np

from audit.stats import safe_divide

RATE_NAMES = (
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "precision",
    "accuracy",
)
AGGREGATE_NAMES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
)


def confusion_table(
    fine: np.ndarray, y: np.ndarray, y_pred: np.ndarray, n_fine: int, n_classes: int
) -> np.ndarray:
    """Counts (n_fine, K, K) of rows by fine group, true class and predicted class."""
    k = n_classes
    cell = (fine * k + y) * k + y_pred
    return np.bincount(cell, minlength=n_fine * k * k).reshape(n_fine, k, k)


def to_scope(table: np.ndarray, fine_to_group: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum a table's leading fine-group axis into a scope's groups (exact integer counts)."""
    out = np.zeros((n_groups, *table.shape[1:]), dtype=table.dtype)
    np.add.at(out, fine_to_group, table)
    return out


def one_vs_rest(table: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(tp, fp, fn, tn) for class k against the rest, from (..., K, K) [true, predicted] counts."""
    tp = table[..., k, k]
    pos = table[..., k, :].sum(axis=-1)
    pred = table[..., :, k].sum(axis=-1)
    n = table.sum(axis=(-1, -2))
    return tp, pred - tp, pos - tp, n - pos - pred + tp


def rate_parts(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Numerator and denominator of each group rate (for Wilson intervals and for values)."""
    n = tp + fp + fn + tn
    return {
        "selection_rate": (tp + fp, n),
        "true_positive_rate": (tp, tp + fn),
        "false_positive_rate": (fp, fp + tn),
        "false_negative_rate": (fn, tp + fn),
        "precision": (tp, tp + fp),
        "accuracy": (tp + tn, n),
    }


def group_rates(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
) -> dict[str, np.ndarray]:
    """Every group rate in closed form from the four confusion counts; NaN where undefined.

    This replaces one fairlearn call per group and metric, whose cost grew with the number of
    groups (72 s at 10,000 groups, docs/benchmarks.md). Where the denominator is zero
    fairlearn's confusion-matrix rates say 0 and sklearn's precision warns and says 0; here
    the rate is NaN and the check omits it, because a rate over no rows is not a measurement.
    Everywhere else the numbers equal fairlearn's (tests/unit/bias/test_bias_closed_form.py).
    """
    return {name: safe_divide(num, den) for name, (num, den) in rate_parts(tp, fp, fn, tn).items()}


def _spread(rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fairlearn's between-groups difference (max - min) and ratio (min / max), NaN-aware."""
    high = np.fmax.reduce(rates, axis=-1)
    low = np.fmin.reduce(rates, axis=-1)
    return high - low, safe_divide(low, high)


def aggregates(
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    tn: np.ndarray,
    included: np.ndarray,
    reference: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """fairlearn's aggregates over the included groups, and each group's impact ratio.

    The impact ratio (EEOC four-fifths rule, NYC LL144) is a group's selection rate over the
    highest selection rate among the `reference` groups; it is given for every group.
    Inputs are (..., G) counts; outputs keep the leading axes.
    """
    parts = rate_parts(tp, fp, fn, tn)
    sel, tpr, fpr = (
        safe_divide(*parts[name])
        for name in ("selection_rate", "true_positive_rate", "false_positive_rate")
    )
    dp_diff, dp_ratio = _spread(sel[..., included])
    tpr_diff, tpr_ratio = _spread(tpr[..., included])
    fpr_diff, fpr_ratio = _spread(fpr[..., included])
    values = {
        "demographic_parity_difference": dp_diff,
        "demographic_parity_ratio": dp_ratio,
        "equalized_odds_difference": np.fmax(tpr_diff, fpr_diff),
        "equalized_odds_ratio": np.fmin(tpr_ratio, fpr_ratio),
        "equal_opportunity_difference": tpr_diff,
    }
    top = np.fmax.reduce(sel[..., reference], axis=-1)
    return values, safe_divide(sel, top[..., None])


def calibration_table(
    fine: np.ndarray, proba: np.ndarray, hit: np.ndarray, n_fine: int, n_bins: int
) -> np.ndarray:
    """(n_fine, n_bins, 3): rows, summed predicted probability and summed outcome per bin.

    Bins are equal-width on [0, 1], as in a reliability diagram.
    """
    p = np.clip(proba, 0.0, 1.0)
    bin_ = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    cell = fine * n_bins + bin_
    size = n_fine * n_bins
    out = np.empty((n_fine, n_bins, 3))
    out[..., 0] = np.bincount(cell, minlength=size).reshape(n_fine, n_bins)
    out[..., 1] = np.bincount(cell, weights=p, minlength=size).reshape(n_fine, n_bins)
    out[..., 2] = np.bincount(cell, weights=hit, minlength=size).reshape(n_fine, n_bins)
    return out


def expected_calibration_error(table: np.ndarray) -> np.ndarray:
    """ECE per group from a (G, n_bins, 3) calibration table: sum_b |sum p - sum y| / n."""
    gap = np.abs(table[..., 1] - table[..., 2]).sum(axis=-1)
    return safe_divide(gap, table[..., 0].sum(axis=-1))
