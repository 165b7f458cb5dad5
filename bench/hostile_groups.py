"""What a sensitive column with many distinct values costs: refused at load, or measured.

Two numbers per group count G (one row per group, 2·G rows in all):
- preflight: seconds for `pipeline.preflight` to refuse the column (default max_groups = 50);
- bias: seconds for the bias check with `max_groups` raised to G, and its ratio to G = 50
  in the same run (linear growth means the ratio tracks G / 50).
Usage: PYTHONPATH=. python bench/hostile_groups.py [--groups 50 300 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import pandas as pd

from audit.checks.base import CheckContext, Predictions
from audit.checks.bias.spec import BiasSpec
from audit.errors import DataError
from audit.loaders.data import Dataset
from audit.pipeline import preflight
from audit.registry import plugin
from audit.spec import AuditSpec


def _data(groups: int) -> tuple[Dataset, Predictions]:
    rng = np.random.default_rng(0)
    n = 2 * groups
    y = rng.integers(0, 2, n)
    p1 = rng.uniform(size=n)
    proba = np.stack([1 - p1, p1], axis=1)
    sensitive = pd.DataFrame({"g": [f"g{i % groups:05d}" for i in range(n)]})
    data = Dataset(
        x=np.zeros((n, 1), np.float32), y=y, sensitive=sensitive, modality="tabular",
        feature_names=("x",), classes=(0, 1),
    )  # fmt: skip
    return data, Predictions(proba=proba, label=(p1 >= 0.5).astype(np.int64))


def _spec() -> AuditSpec:
    return AuditSpec.model_validate(
        {
            "name": "bench",
            "model": {"path": "m.pt", "task": "binary"},
            "data": {"path": "d.csv", "label": "y", "features": ["x"], "sensitive": ["g"]},
        }
    )


def _preflight_seconds(data: Dataset) -> float:
    start = time.perf_counter()
    with contextlib.suppress(DataError):
        preflight(_spec(), data)
    return time.perf_counter() - start


def _bias_seconds(data: Dataset, predictions: Predictions, groups: int) -> float:
    ctx = CheckContext(
        model=None, data=data, predictions=predictions,
        config=BiasSpec(max_groups=max(groups, 50), n_boot=100), seed=0,
        min_group_size=30, confidence=0.95,
    )  # fmt: skip
    start = time.perf_counter()
    plugin("bias").measure(ctx)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, nargs="+", default=[50, 300, 1000])
    args = parser.parse_args()
    baseline = None
    print(f"{'groups':>7} {'preflight s':>12} {'bias s':>8} {'ratio to 50':>12}")
    for groups in args.groups:
        data, predictions = _data(groups)
        pre = _preflight_seconds(data)
        bias = _bias_seconds(data, predictions, groups)
        baseline = baseline or bias
        print(f"{groups:>7} {pre:>12.3f} {bias:>8.2f} {bias / baseline:>12.1f}")


if __name__ == "__main__":
    main()
