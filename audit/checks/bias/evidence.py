"""What the bias check hands its report section beyond the metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BiasEvidence:
    """Plain-language sentences on the largest disparities, groups too small to judge,
    missing values and intersections left out (written where the numbers are known)."""

    sentences: tuple[str, ...] = ()


__all__ = ["BiasEvidence"]
