"""The `checks.bias` section of the audit spec."""

from __future__ import annotations

from pydantic import Field

from audit.binning import Binning
from audit.strict import Strict


class BiasSpec(Strict):
    """Options of the bias check (methods.md, Bias).

    `bins` mirrors `data.bins` (the runner merges that in); `confidence` left unset means the
    policy's confidence; `max_groups` stops an unbinned numeric or free-text column from
    exploding into thousands of groups, and `max_intersection_groups` leaves out (and reports)
    an intersection split so finely that almost every group is too small to judge.
    """

    intersections: bool = True
    n_boot: int = Field(1000, ge=0, le=100_000)
    confidence: float | None = Field(None, gt=0.5, lt=1.0)
    bins: dict[str, Binning] = {}
    calibration_bins: int = Field(10, ge=2, le=100)
    max_groups: int = Field(50, ge=2, le=10_000)
    max_intersection_groups: int = Field(200, ge=2, le=100_000)
