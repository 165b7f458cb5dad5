"""Checks measure a model; they never judge it.

Each check is a plugin in its own folder (`audit/checks/<name>/`, see `audit.plugin`): it
takes a `CheckContext` (the model, the data, the shared predictions and its own section of
the spec) and returns `Metric` records plus evidence for its report section. The built-in
checks:

- `bias`: group metrics, parity differences and ratios, intersections, confidence intervals;
- `spurious`: counterfactual probes with two nulls, backed by captum attributions;
- `robustness`: noise, corruptions and adversarial attacks at graded levels;
- `performance`: accuracy and calibration, the context for every other number.

Third-party checks register under the `audit.checks` entry-point group (`audit.registry`).
"""

from __future__ import annotations

import warnings

# captum notes each time it switches on gradients for an input (PGD does so at every step).
# Filtered once, here: `warnings.catch_warnings` per call is not thread-safe, and the checks
# run concurrently.
warnings.filterwarnings("ignore", message=r"Input Tensor \d+ did not already require grad")
