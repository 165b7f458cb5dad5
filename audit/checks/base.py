"""What every check receives and returns.

A check *measures*: it gets the model, the data and the shared predictions, and returns
`Metric` records plus evidence for the report's figures. It never judges; thresholds live
in policy files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.checks.rows import (
    RowMapper,
    ShardFn,
    function_ref,
    predict_slice,
    run_slices,
    shard_slices,
)
from audit.loaders.data import Dataset
from audit.loaders.model import ModelRunner
from audit.records import Metric


@dataclass(frozen=True)
class Predictions:
    """The model's outputs on the whole dataset, computed once and shared by every check."""

    proba: np.ndarray  # (N, K) float64
    label: np.ndarray  # (N,) int64, after the decision threshold


@dataclass(frozen=True)
class CheckContext:
    model: ModelRunner
    data: Dataset
    predictions: Predictions
    config: Any  # the check's section of the spec (a pydantic model)
    seed: int = 0
    min_group_size: int = 30
    confidence: float = 0.95
    # the policy's `defaults.small_groups` when it excludes: (below_share, justification)
    exclude_small_groups: tuple[float, str] | None = None
    rows: RowMapper | None = None  # an orchestrator's mapper; None runs per-row work here

    def map_rows(
        self,
        fn: ShardFn,
        n: int,
        *,
        align: int = 1,
        kwargs: Mapping[str, Any] | None = None,
        arrays: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """`fn(model, rows, **kwargs, **arrays[rows])` over shards of n rows, in row order.

        Without an orchestrator's mapper (or with work too small to split) this is one call
        in process; see `audit.checks.rows`.
        """
        kwargs, arrays = dict(kwargs or {}), dict(arrays or {})
        slices = shard_slices(n, align, self.rows.shards if self.rows else 1)
        if self.rows is None or len(slices) == 1:
            return run_slices(self.model, fn, slices, kwargs, arrays)
        return self.rows(function_ref(fn), slices, kwargs, arrays)

    def predict(self, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities and decisions for new inputs (perturbed copies), sharded by batch."""
        parts = self.map_rows(
            predict_slice,
            len(x),
            align=batch_size,
            kwargs={"batch_size": batch_size},
            arrays={"x": x},
        )
        proba = np.concatenate(parts)
        return proba, self.model.decide(proba)


@dataclass(frozen=True)
class CheckOutput:
    """Measurements plus raw evidence (arrays, small tables) the report draws figures from."""

    metrics: tuple[Metric, ...]
    evidence: object = None  # the check's declared `evidence_type`; None when it has none
    # metric name -> reason, for metrics this input makes meaningless (the policy skips them,
    # saying why); anything a rule needs that is neither measured nor declared here is an error
    not_applicable: Mapping[str, str] = field(default_factory=dict)
