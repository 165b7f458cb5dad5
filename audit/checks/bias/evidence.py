"""What the bias check hands its report section beyond the metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# per sensitive feature, per group: a few of the group's images, (k, H, W, 3) uint8 thumbnails
GroupImages = tuple[tuple[str, tuple[tuple[str, np.ndarray], ...]], ...]


@dataclass(frozen=True)
class BiasEvidence:
    """Plain-language sentences on the largest disparities, groups too small to judge,
    missing values and intersections left out (written where the numbers are known), and the
    policy's justification when it excludes small groups (the report prints it beside them).
    Image data adds a few example images per group: a reviewer sees what each group's images
    look like (a site's scanner, a skin tone), which no rate conveys."""

    sentences: tuple[str, ...] = ()
    justification: str = ""
    examples: GroupImages = ()


__all__ = ["BiasEvidence", "GroupImages"]
