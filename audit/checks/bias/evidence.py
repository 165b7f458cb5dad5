"""What the bias check hands its report section beyond the metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BiasEvidence:
    """Plain-language sentences on the largest disparities, groups too small to judge,
    missing values and intersections left out (written where the numbers are known), and the
    policy's justification when it excludes small groups (the report prints it beside them)."""

    sentences: tuple[str, ...] = ()
    justification: str = ""


__all__ = ["BiasEvidence"]
