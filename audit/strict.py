"""The base of every spec model: unknown keys are errors and parsed specs are immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A frozen pydantic model that rejects unknown keys (contract: never silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


__all__ = ["Strict"]
