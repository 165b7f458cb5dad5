"""The `checks.bias` section of the audit spec."""

from __future__ import annotations

from pydantic import Field

from audit.binning import Binning
from audit.strict import Strict


class BiasSpec(Strict):
    """Options of the bias check (docs/methods.md, Bias).

    `bins` mirrors `data.bins` (the runner merges that in); `confidence` left unset means the
    policy's confidence; `max_groups` stops an unbinned numeric or free-text column from
    exploding into thousands of groups, and `max_intersection_groups` leaves out (and reports)
    an intersection split so finely that almost every group is too small to judge.
    """

    intersections: bool = Field(
        True, description="Also measure every cross of the sensitive attributes."
    )
    n_boot: int = Field(
        1000,
        ge=0,
        le=100_000,
        description="Bootstrap resamples for the intervals of differences and ratios.",
    )
    confidence: float | None = Field(
        None, gt=0.5, lt=1.0, description="Interval level; unset means the policy's `confidence`."
    )
    bins: dict[str, Binning] = Field(
        {}, description="Binning per numeric sensitive column; wins over `data.bins` on a clash."
    )
    calibration_bins: int = Field(
        10, ge=2, le=100, description="Confidence bins of the per-group calibration error."
    )
    max_groups: int = Field(
        50, ge=2, le=10_000, description="Most groups one sensitive column may form."
    )
    max_intersection_groups: int = Field(
        200,
        ge=2,
        le=100_000,
        description="Most groups an intersection may form; a finer one is left out and reported.",
    )
