"""What every check receives and returns.

A check *measures*: it gets the model, the data and the shared predictions, and returns
`Metric` records plus evidence for the report's figures. It never judges; thresholds live
in policy files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

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


@dataclass(frozen=True)
class CheckOutput:
    """Measurements plus raw evidence (arrays, small tables) the report draws figures from."""

    metrics: tuple[Metric, ...]
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # metric name -> reason, for metrics this input makes meaningless (the policy skips them,
    # saying why); anything a rule needs that is neither measured nor declared here is an error
    not_applicable: Mapping[str, str] = field(default_factory=dict)


class Check(Protocol):
    """The contract every registered check honours (tests/unit/test_check_contract.py)."""

    name: str  # "bias" | "spurious" | "robustness" | "performance"
    title: str  # display name in the report

    def measure(self, ctx: CheckContext) -> CheckOutput: ...
