"""Builders shared by the bias tests: a CheckContext from plain arrays, no model needed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.checks.base import CheckContext, Predictions
from audit.checks.bias.spec import BiasSpec
from audit.loaders.data import Dataset


def make_context(
    y,
    y_pred,
    sensitive: dict,
    *,
    proba=None,
    min_group_size: int = 1,
    seed: int = 0,
    **config,
) -> CheckContext:
    """A context for the bias check; binary probabilities default to the hard predictions."""
    y = np.asarray(y, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if proba is None:
        p = y_pred.astype(np.float64)
        proba = np.column_stack([1 - p, p])
    data = Dataset(
        x=np.zeros((len(y), 1), dtype=np.float32),
        y=y,
        sensitive=pd.DataFrame(sensitive),
        modality="tabular",
    )
    return CheckContext(
        model=None,  # the bias check needs predictions only
        data=data,
        predictions=Predictions(proba=np.asarray(proba, dtype=np.float64), label=y_pred),
        config=BiasSpec(**config),
        seed=seed,
        min_group_size=min_group_size,
    )


def find(metrics, name, feature=None, group=None, method=None):
    """The one metric with these keys (fails loudly if absent or ambiguous)."""
    hits = [
        m
        for m in metrics
        if m.name == name and m.feature == feature and m.group == group and m.method == method
    ]
    assert len(hits) == 1, f"{name} {feature}={group} {method}: {len(hits)} matches"
    return hits[0]
