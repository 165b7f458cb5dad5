"""How a numeric sensitive column becomes groups (`data.bins`, `checks.bias.bins`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from audit.strict import Strict


class Binning(Strict):
    """How to turn a numeric sensitive column into groups: give exactly one of `quantiles` or
    `edges`."""

    quantiles: int | None = Field(
        None,
        ge=2,
        le=20,
        description="Cut at the data's quantiles into this many groups of about equal size.",
    )
    edges: list[float] | None = Field(
        None,
        description="Cut at these strictly increasing values: below the first, between them, "
        "and from the last on.",
    )

    @model_validator(mode="after")
    def _one(self) -> Binning:
        if (self.quantiles is None) == (self.edges is None):
            raise ValueError("give exactly one of `quantiles` or `edges`")
        if self.edges is not None and sorted(set(self.edges)) != self.edges:
            raise ValueError("`edges` must be strictly increasing")
        return self


__all__ = ["Binning"]
