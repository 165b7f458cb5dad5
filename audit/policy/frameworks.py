"""The shipped catalogue of compliance frameworks and clauses that policy rules cite.

A rule's `controls:` names (framework, clause) pairs from `data/frameworks.yaml`, so the
crosswalk from findings to clauses is data a reviewer can read, not prose in the code. The
catalogue also says which clauses no automated audit can cover, so the report lists them as
not covered instead of letting silence suggest they were met.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from audit.strict import Strict
from audit.yamlio import load_yaml, to_plain

CATALOGUE = Path(__file__).resolve().parent / "data" / "frameworks.yaml"

Scope = Literal["rules", "report", "not_in_scope"]


class Clause(Strict):
    """One clause: what it asks, in a sentence, and what an automated audit can offer for it."""

    clause: str = Field(min_length=1, description='As cited, e.g. "Art. 10(2)(f)".')
    title: str = Field(min_length=1)
    asks: str = Field(min_length=1, description="What the clause asks, in our own words.")
    scope: Scope
    note: str = Field(
        "", description="How the report serves the clause, or why no automated audit can."
    )

    @model_validator(mode="after")
    def _note_when_not_rules(self) -> Clause:
        if self.scope != "rules" and not self.note:
            raise ValueError(f"clause {self.clause!r}: a `{self.scope}` clause needs a `note`")
        return self


class Framework(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    title: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    clauses: list[Clause] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_clauses(self) -> Framework:
        ids = [c.clause for c in self.clauses]
        dupes = sorted({c for c in ids if ids.count(c) > 1})
        if dupes:
            raise ValueError(f"framework {self.id!r} lists clauses twice: {dupes}")
        return self

    def get(self, clause: str) -> Clause | None:
        return next((c for c in self.clauses if c.clause == clause), None)


class Catalogue(Strict):
    version: str = Field(min_length=1)
    frameworks: list[Framework] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_frameworks(self) -> Catalogue:
        ids = [f.id for f in self.frameworks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"framework ids must be unique: {ids}")
        return self

    def get(self, framework: str) -> Framework | None:
        return next((f for f in self.frameworks if f.id == framework), None)


@cache
def catalogue() -> Catalogue:
    """The shipped catalogue, parsed once (a broken catalogue is a bug: it raises)."""
    return Catalogue.model_validate(to_plain(load_yaml(CATALOGUE)))


def framework_ids() -> tuple[str, ...]:
    return tuple(f.id for f in catalogue().frameworks)


UNKNOWN_CLAUSE = "framework `{framework}` has no clause {clause!r}; use one of: {known}"
NOT_IN_SCOPE = (
    "clause {clause!r} of `{framework}` is not in scope of an automated audit ({note}); "
    "no rule can be evidence for it, so remove it from `controls`"
)


def check_clause(framework: str, clause: str) -> None:
    """Raise ValueError unless a rule may cite `clause` of `framework` as evidence."""
    fw = catalogue().get(framework)
    if fw is None:
        raise ValueError(
            f"unknown framework `{framework}`; use one of: {', '.join(framework_ids())}"
        )
    found = fw.get(clause)
    if found is None:
        known = ", ".join(repr(c.clause) for c in fw.clauses if c.scope != "not_in_scope")
        raise ValueError(UNKNOWN_CLAUSE.format(framework=framework, clause=clause, known=known))
    if found.scope == "not_in_scope":
        raise ValueError(
            NOT_IN_SCOPE.format(framework=framework, clause=clause, note=found.note.rstrip("."))
        )
