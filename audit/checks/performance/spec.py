"""The `checks.performance` section of the audit spec."""

from __future__ import annotations

from pydantic import Field

from audit.strict import Strict


class PerformanceSpec(Strict):
    """Options of the performance check."""

    n_bins: int = Field(
        10, ge=2, le=100, description="Equal-width confidence bins of the calibration error."
    )
