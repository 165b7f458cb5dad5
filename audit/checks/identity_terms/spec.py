"""The `checks.identity_terms` section of the audit spec."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from audit.strict import Strict

_Term = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s{}]+( [^\s{}]+)*$")]
_Terms = Annotated[list[_Term], Field(min_length=2)]


class IdentityTermsSpec(Strict):
    """Options of the identity-term check (docs/methods.md, Identity terms).

    `terms` unset means the bundled lexicon (`audit/checks/identity_terms/data/lexicon.yaml`);
    given, it replaces the lexicon: each category lists the terms swapped for one another.
    `templates` unset means the bundled template set; a path names a CSV with the columns
    `template` (holding `{term}` once or more) and `label` (0 or 1).
    """

    terms: dict[str, _Terms] | None = Field(
        None,
        description="Identity terms per category ({category: [term, ...]}, two or more each, "
        "matched whole-word and case-insensitively); unset means the bundled lexicon.",
    )
    templates: Path | bool = Field(
        True,
        description="Template sentences scored per term: `true` the bundled set, a path a CSV "
        "with columns `template` (with `{term}`) and `label` (0/1), `false` none.",
    )
    sample: int = Field(
        2000,
        ge=10,
        le=1_000_000,
        description="Most texts (seeded draw) swapped per category for the counterfactuals.",
    )
    n_boot: int = Field(
        1000, ge=0, le=100_000, description="Bootstrap resamples for every interval."
    )
    batch_size: int = Field(256, ge=1, description="Texts per prediction batch.")
    confidence: float | None = Field(
        None, gt=0.5, lt=1.0, description="Interval level; unset means the policy's `confidence`."
    )
    examples: int = Field(
        5, ge=0, le=100, description="Most-changed swaps shown in the report, per category."
    )

    @field_validator("terms")
    @classmethod
    def _distinct(cls, v: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one category, or leave `terms` unset")
        seen: dict[str, str] = {}
        for category, terms in v.items():
            for term in terms:
                key = term.lower()
                if key in seen:
                    raise ValueError(
                        f"term {term!r} is listed twice (in {seen[key]!r} and {category!r}); "
                        "each term belongs to one category"
                    )
                seen[key] = category
        return v


__all__ = ["IdentityTermsSpec"]
