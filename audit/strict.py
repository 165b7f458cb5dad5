"""The base of every spec model: unknown keys are errors and parsed specs are immutable."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

BOTH_NAMES = "give `{name}` once: `{old}` is its deprecated old name"


class Strict(BaseModel):
    """A frozen pydantic model that rejects unknown keys (contract: never silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def one_name(data: Any, name: str, old: str) -> Any:
    """A model's raw input, refused when it gives a field both as `name` and as its deprecated
    old name `old` (a `validation_alias`): pydantic would call the second an unknown key,
    which hides that both were meant as the same field."""
    if isinstance(data, dict) and name in data and old in data:
        raise ValueError(BOTH_NAMES.format(name=name, old=old))
    return data


__all__ = ["BOTH_NAMES", "Strict", "one_name"]
