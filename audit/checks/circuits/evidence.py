"""What the circuits check hands its report section beyond the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ProbeCircuit:
    """One probe's sweep and circuit: the layer x head grids of ablation effect (share of the
    artifact's effect removed) and attention enrichment, the circuit and its confirmations;
    `reason` says why the search did not run (no effect to explain, too few texts)."""

    probe: str
    reason: str = ""
    target: int = 0
    effect: float = float("nan")
    n: int = 0
    ablation: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    attention: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    circuit: tuple[tuple[int, int], ...] = ()
    reached: float = float("nan")  # share removed on the search half
    found: bool = False  # the circuit reached `share` within `max_heads`
    necessity: float = float("nan")
    null: float = float("nan")
    recovery: float = float("nan")
    accuracy_drop: float = float("nan")


@dataclass(frozen=True)
class CircuitsEvidence:
    """Why the check did not apply (empty when it did), the model's shape, each probe and the
    heads' importance for the task."""

    reason: str = ""
    layers: int = 0
    heads: int = 0
    ablation: str = "mean"
    probes: tuple[ProbeCircuit, ...] = ()
    # layer x head: mean cross-entropy increase of the true label with the head ablated
    importance: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))


__all__ = ["CircuitsEvidence", "ProbeCircuit"]
