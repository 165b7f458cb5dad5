"""The policy file format as pydantic models, and the resolved `Policy` the judge reads.

`PolicyFile` is one YAML file exactly as written (unknown keys are errors); `Policy` is the
result of resolving `extends`, with the hash and text of every file it was built from, so a
report can show precisely which thresholds judged the model.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict

from audit.policy.frameworks import check_clause, framework_ids
from audit.records import SUBJECT_KEYS, Control, Metric, PolicyInfo, SubjectKeys, Threshold
from audit.registry import check_names
from audit.strict import one_name

_ID = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
_WARN_SIDE = (
    "`warn` must lie on the passing side of `value` (for `{op}` it must be {side} {value:g}), "
    "since a warning sits between passing comfortably and failing"
)

# The checks a rule may name: every registered check (built-in or from an entry point).
# The frameworks a rule's `controls` may cite: those of the shipped catalogue.
if TYPE_CHECKING:
    CheckField = str
    FrameworkField = str
else:
    CheckField = Literal[check_names()]
    FrameworkField = Literal[framework_ids()]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_EXCLUDE_NEEDS = (
    "`small_groups.action: exclude` needs `below_share` (for example 0.02, the NYC LL144 "
    "limit) and a `justification` the report prints"
)
_KEEP_TAKES_NOTHING = (
    "`below_share` and `justification` apply only to `small_groups.action: exclude`"
)


class SmallGroups(_Strict):
    """What a group below `min_group_size` does to the rules over its feature.

    `insufficient_data` (the default): every rule whose subject includes the group, the
    feature's aggregates too, is `insufficient_data`, naming the group and its n. `exclude`:
    groups under `below_share` of the rows are left out of the aggregates and impact ratios
    (NYC LL144 allows this below 2%, with the excluded groups' counts and rates published);
    their own metrics are listed as excluded, with the justification, and never judged.
    """

    action: Literal["insufficient_data", "exclude"] = "insufficient_data"
    below_share: float | None = Field(
        None, gt=0.0, lt=0.5, description="Share of the rows under which a group is excluded."
    )
    justification: str = Field("", description="Why excluding is acceptable; printed verbatim.")

    @model_validator(mode="after")
    def _options_match_action(self) -> SmallGroups:
        if self.action == "exclude" and (self.below_share is None or not self.justification):
            raise ValueError(_EXCLUDE_NEEDS)
        if self.action != "exclude" and (self.below_share is not None or self.justification):
            raise ValueError(_KEEP_TAKES_NOTHING)
        return self

    def exclusion(self) -> tuple[float, str] | None:
        """(below_share, justification) for the checks when excluding, else None."""
        if self.action != "exclude" or self.below_share is None:
            return None
        return self.below_share, self.justification


class Defaults(_Strict):
    """Statistical settings shared by every rule of a policy."""

    min_group_size: int = Field(30, ge=1, description="Smaller groups are `insufficient_data`.")
    confidence: float = Field(
        0.95, gt=0.5, lt=1.0, description="Confidence level of the intervals rules judge."
    )
    multiple_comparisons: Literal["holm", "bonferroni", "bh", "none"] = Field(
        "holm",
        description=(
            "Correction the judge applies across the metrics one rule judges: holm or "
            "bonferroni (family-wise, simultaneous intervals), bh (false coverage rate, "
            "Benjamini-Yekutieli intervals) or none. See docs/methods.md."
        ),
    )
    max_unreadable_share: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description=(
            "Image files: the largest share of listed files that may be unreadable; those are "
            "left out and named in the report, more make the audit an error."
        ),
    )
    small_groups: SmallGroups = Field(
        SmallGroups(),
        description=(
            "Groups below min_group_size make their feature's rules insufficient_data, or "
            "with `action: exclude` groups under `below_share` are left out and listed."
        ),
    )


# A subject's `severity` is the old name of `level` (findings.json version 1): still read, so
# existing policies keep working, and listed by `audit policy lint` as deprecated.
DEPRECATED_LEVEL_KEY = "severity"


def _deprecated_level_in_schema(schema: JsonDict) -> None:
    """List the old name in policies/schema.json as deprecated, so an editor accepts an
    existing policy and can flag the key, as lint does, instead of calling it unknown."""
    properties = schema["properties"]
    assert isinstance(properties, dict)
    properties[DEPRECATED_LEVEL_KEY] = {
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": 5}, {"type": "null"}],
        "deprecated": True,
        "description": "Deprecated: the old name of `level`; write `level`.",
    }


class Subject(_Strict):
    """A filter on what a metric measured; unset fields match anything."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,
        json_schema_extra=_deprecated_level_in_schema,
    )

    feature: str | None = None
    group: str | None = None
    probe: str | None = None
    perturbation: str | None = None
    level: int | None = Field(
        None,
        ge=1,
        le=5,
        validation_alias=AliasChoices("level", DEPRECATED_LEVEL_KEY),
        description="A perturbation family's graded level, 1 (mildest) to 5.",
    )
    method: str | None = None
    layer: int | None = Field(None, ge=0)
    head: int | None = Field(None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _level_once(cls, data: Any) -> Any:
        return one_name(data, "level", DEPRECATED_LEVEL_KEY)

    def items(self) -> list[tuple[str, str | int]]:
        return [(k, getattr(self, k)) for k in SUBJECT_KEYS if getattr(self, k) is not None]

    def as_keys(self) -> SubjectKeys:
        """The filter as keyword arguments for a record (`Waiver(..., **subject.as_keys())`)."""
        return SubjectKeys(
            feature=self.feature,
            group=self.group,
            probe=self.probe,
            perturbation=self.perturbation,
            level=self.level,
            method=self.method,
            layer=self.layer,
            head=self.head,
        )

    def matches(self, metric: Metric) -> bool:
        return all(getattr(metric, k) == v for k, v in self.items())

    def describe(self) -> str:
        """`feature `age`, group `40-50`` (empty when the subject is unrestricted)."""
        return ", ".join(f"{k} `{v}`" for k, v in self.items())


class ThresholdSpec(_Strict):
    op: Literal["<=", ">=", "<", ">"]
    value: float = Field(allow_inf_nan=False)
    warn: float | None = Field(
        None, allow_inf_nan=False, description="Passing values beyond this bound still warn."
    )

    @field_validator("warn")
    @classmethod
    def _warn_on_passing_side(cls, warn: float | None, info: ValidationInfo) -> float | None:
        op, value = info.data.get("op"), info.data.get("value")
        if warn is None or op is None or value is None:
            return warn
        upper = op in (">=", ">")
        if (upper and warn < value) or (not upper and warn > value):
            raise ValueError(_WARN_SIDE.format(op=op, side=">=" if upper else "<=", value=value))
        return warn


class ControlRef(_Strict):
    """A clause of a compliance framework this rule's findings are evidence for.

    Both must name the shipped catalogue (audit/policy/data/frameworks.yaml); a clause no
    automated audit can cover (human oversight, say) cannot be cited.
    """

    framework: FrameworkField
    clause: str = Field(min_length=1, description='As the catalogue cites it: "Art. 10(2)(f)".')

    @field_validator("clause")
    @classmethod
    def _known_clause(cls, clause: str, info: ValidationInfo) -> str:
        framework = info.data.get("framework")
        if framework is not None:  # an unknown framework is reported by its own field
            check_clause(framework, clause)
        return clause

    def record(self) -> Control:
        return Control(framework=self.framework, clause=self.clause)


class Rule(_Strict):
    id: str = Field(pattern=_ID, description="Stable id; a child policy overrides by id.")
    check: CheckField
    metric: str = Field(min_length=1)
    subject: Subject = Subject()
    threshold: ThresholdSpec
    on: Literal["value", "ci_low", "ci_high"] = "value"
    severity: Literal["blocker", "major", "minor"]
    rationale: str = Field(min_length=1, description="Plain-language reason shown in the report.")
    references: list[str] = []
    controls: list[ControlRef] = Field(
        [],
        description="Framework clauses this rule is evidence for; the report's framework "
        "mapping and findings.json list them.",
    )

    @field_validator("controls")
    @classmethod
    def _controls_once(cls, controls: list[ControlRef]) -> list[ControlRef]:
        seen = [(c.framework, c.clause) for c in controls]
        twice = sorted({f"{f} {c}" for f, c in seen if seen.count((f, c)) > 1})
        if twice:
            raise ValueError(f"a control is listed twice: {', '.join(twice)}")
        return controls

    def record_threshold(self) -> Threshold:
        t = self.threshold
        return Threshold(op=t.op, value=t.value, warn=t.warn, on=self.on)


class WaiverSpec(_Strict):
    """An approved, time-limited exception: turns a `fail` of one rule into `waived`."""

    rule: str = Field(pattern=_ID)
    subject: Subject = Subject()
    justification: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: datetime.date = Field(description="Last day the waiver applies (inclusive).")

    def expired(self, today: datetime.date) -> bool:
        return self.expires < today


class PolicyFile(_Strict):
    """One policy YAML file, as written."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Audit policy",
        json_schema_extra={"description": "A versioned policy judging audit metrics."},
    )

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    version: str = Field(min_length=1, description='Quote it: "1.0.0".')
    description: str = ""
    extends: str | None = Field(None, description="A shipped policy name or a relative path.")
    defaults: Defaults = Defaults()
    required_checks: list[CheckField] = Field(
        [], description="Checks that may not be switched off; their rules error instead."
    )
    optional_checks: list[CheckField] = Field(
        [],
        description="Checks a parent requires that this policy lets a spec switch off; "
        "the report names each one switched off.",
    )
    rules: list[Rule] = []
    waivers: list[WaiverSpec] = []

    @model_validator(mode="after")
    def _required_or_optional(self) -> PolicyFile:
        both = sorted(set(self.required_checks) & set(self.optional_checks))
        if both:
            raise ValueError(f"a check is either required or optional, not both: {both}")
        return self


@dataclass(frozen=True)
class Policy:
    """A policy with `extends` resolved. `sha256` is the hash of `text` (UTF-8)."""

    name: str
    version: str
    description: str
    defaults: Defaults
    required_checks: tuple[str, ...]
    rules: tuple[Rule, ...]
    waivers: tuple[WaiverSpec, ...]
    sha256: str
    text: str
    source: str = ""
    optional_checks: tuple[str, ...] = ()  # required by a parent, released by `optional_checks`

    def info(self) -> PolicyInfo:
        return PolicyInfo(
            name=self.name,
            version=self.version,
            sha256=self.sha256,
            text=self.text,
            confidence=self.defaults.confidence,
            min_group_size=self.defaults.min_group_size,
            multiple_comparisons=self.defaults.multiple_comparisons,
        )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file, as shipped in `policies/schema.json`."""
    schema = PolicyFile.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }
