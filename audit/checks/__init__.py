"""Checks measure a model; they never judge it.

Each check takes a `CheckContext` (the model, the data, the shared predictions and its own
section of the spec) and returns `Metric` records plus evidence for the report:

- `bias`: group metrics, parity differences and ratios, intersections, confidence intervals;
- `spurious`: counterfactual probes with two nulls, backed by captum attributions;
- `robustness`: noise, corruptions and adversarial attacks at graded severities;
- `performance`: accuracy and calibration, the context for every other number.
"""

from __future__ import annotations

import importlib
import warnings

from audit.checks.base import Check, CheckContext, CheckOutput, Predictions

# captum notes each time it switches on gradients for an input (PGD does so at every step).
# Filtered once, here: `warnings.catch_warnings` per call is not thread-safe, and the checks
# run concurrently.
warnings.filterwarnings("ignore", message=r"Input Tensor \d+ did not already require grad")

_REGISTRY = {
    "bias": "audit.checks.bias:BiasCheck",
    "spurious": "audit.checks.spurious:SpuriousCheck",
    "robustness": "audit.checks.robustness:RobustnessCheck",
    "performance": "audit.checks.performance:PerformanceCheck",
}

CHECKS: tuple[str, ...] = tuple(_REGISTRY)


def get_check(name: str) -> Check:
    """Instantiate a registered check by name (imported lazily: torch-heavy checks load late)."""
    module_name, _, cls = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), cls)()


__all__ = ["CHECKS", "Check", "CheckContext", "CheckOutput", "Predictions", "get_check"]
