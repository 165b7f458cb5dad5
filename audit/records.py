"""The typed records that cross stage boundaries: measurements, judgements, results.

Checks emit `Metric`s, the policy turns them into `Finding`s, and the report and the
ledger read a finished `AuditResult`. Everything here is immutable and JSON-ready.

Every record is a pydantic dataclass and is serialised by one mechanism, `JSONRecord`: its
JSON form is derived from its fields (numbers normalised, enums as their values, unknown keys
refused on reading). Where the published form differs from the fields, for instance a
finding carrying its metric's subject inline, the difference is declared on the record
itself, beside the fields it concerns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self, TypedDict

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    computed_field,
    field_serializer,
    model_serializer,
    model_validator,
)
from pydantic.dataclasses import dataclass

# Records refuse keys they do not declare: a misspelt or newer key in findings.json is an
# error, never silently dropped
# refused on reading). A field may publish another name (`alias`); code still uses its own.
RECORD = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type) -> TypeAdapter[Any]:
    """The record type's pydantic adapter, built once (building one compiles its schema)."""
    if cls not in _ADAPTERS:
        _ADAPTERS[cls] = TypeAdapter(cls)
    return _ADAPTERS[cls]


class JSONRecord:
    """The one way records become JSON and come back: pydantic, from the declared fields.

    `to_json` leaves out unset (None) values unless the record publishes them
    (`_json_keeps_none`), and uses a field's published name where it declares one.
    `from_json` validates, raising `pydantic.ValidationError` (a ValueError) whose
    locations name the offending key.
    """

    _json_keeps_none: ClassVar[bool] = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _adapter(type(self)).dump_python(
            self, mode="json", by_alias=True, exclude_none=not self._json_keeps_none
        )
        return out

    @classmethod
    def from_json(cls, data: Any) -> Self:
        record: Self = _adapter(cls).validate_python(data)
        return record


def first_error(exc: ValidationError) -> str:
    """The first problem of a validation error in one line: `metrics.3.value: <message>`."""
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


class Status(StrEnum):
    """How one rule fared on one subject."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    INSUFFICIENT_DATA = "insufficient_data"
    ERROR = "error"
    WAIVED = "waived"
    SKIPPED = "skipped"


class Severity(StrEnum):
    """How much a failed rule matters; only blockers decide the verdict by default."""

    BLOCKER = "blocker"
    MAJOR = "major"
    MINOR = "minor"

    @property
    def rank(self) -> int:
        return {"blocker": 3, "major": 2, "minor": 1}[self.value]


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


class Decision(StrEnum):
    """A reviewer's choice on the sign-off form; the values are the choice field's export values."""

    APPROVE = "approve"
    CONDITIONS = "conditions"
    REJECT = "reject"


DECISION_TEXT = {
    Decision.APPROVE: "Approve",
    Decision.CONDITIONS: "Approve with conditions",
    Decision.REJECT: "Reject",
}


# The verdict as the report's cover prints it; `audit verify` checks the cover says this.
VERDICT_TEXT = {
    Verdict.PASS: "PASS",
    Verdict.FAIL: "FAIL — release blocked",
    Verdict.ERROR: "ERROR — audit incomplete",
}


# `<metric>_change_since_last_pass`: the change of a metric since the last passing audit
# (computed from the ledger), so a plain threshold rule can gate on a regression.
REGRESSION_SUFFIX = "_change_since_last_pass"

# A check's declaration that it left a group out of its feature's aggregates because the
# policy's `defaults.small_groups` excludes it: value = the group's share of the rows, n = its
# size. The judge lists the group's metrics as excluded instead of judging them.
EXCLUDED_SHARE = "excluded_share"

# Statuses that block a release when the finding's severity is at or above the gate.
BLOCKING_STATUSES = frozenset({Status.FAIL, Status.ERROR, Status.INSUFFICIENT_DATA})


class SubjectKeys(TypedDict, total=False):
    """Every key a metric may use to say what it measured: the one subject vocabulary of
    metrics, policy rules and waivers, typed so that `Metric(..., **keys)` is checked."""

    feature: str | None
    group: str | None
    probe: str | None
    perturbation: str | None
    level: int | None  # a perturbation family's graded level, from 1 (mildest) to 5
    method: str | None
    layer: int | None  # an attention layer, from 0 (the circuits check)
    head: int | None  # an attention head within its layer, from 0


SUBJECT_KEYS: tuple[str, ...] = tuple(SubjectKeys.__annotations__)
_METRIC_OPTIONAL = (*SUBJECT_KEYS, "ci_low", "ci_high", "n")

# The version of findings.json `AuditResult.findings_json` writes, and those it reads. Version
# 2 renamed the perturbation level from `severity` to `level`, so that `severity` means only a
# rule's severity (README, "Changes and additions to the contract"; docs/contract.md, 5).
FINDINGS_SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)
UNKNOWN_SCHEMA = (
    "findings.json schema_version {version!r} is not one this audit reads (it reads {readable}): "
    "either a newer audit wrote it (read it with the audit version its provenance.versions "
    "names) or it is not a findings.json"
)
# Version 1's names of the perturbation level: on a metric and a waiver `severity`, and on a
# finding `metric_severity` (its own `severity` being the rule's).
_V1_LEVEL = "severity"
_V1_FINDING_LEVEL = "metric_severity"


@dataclass(frozen=True, config=RECORD)
class IntervalBasis(JSONRecord):
    """How a metric's interval was made, so the judge can rebuild it at another level.

    `wilson`: a Wilson score interval of `successes` out of `trials`, rebuilt exactly.
    `percentile`: a percentile bootstrap interval, rebuilt by its normal tails
    (`audit.stats.widened_interval`). `confidence` is the level the interval was made at.
    """

    method: Literal["wilson", "percentile"]
    confidence: float
    successes: int | None = None
    trials: int | None = None


@dataclass(frozen=True, config=RECORD)
class PowerBasis(JSONRecord):
    """What the power of a comparison depends on: the two group sizes and the pooled rate.

    `sizes` are the groups whose comparison is hardest to power (the smallest pair for an
    aggregate, the group and the reference for an impact ratio); `scale` says whether the
    metric is a difference of rates or a ratio of them.
    """

    sizes: tuple[int, int]
    rate: float
    scale: Literal["difference", "ratio"]


def audit_id(name: str, started_at: str, model_sha256: str) -> str:
    """A short stable id: the first 12 hex digits of sha256(name, started_at, model hash).

    It names one run of one audit on one model; the same inputs give the same id, and the
    report, the ledger, reviews and `audit verify` can all quote it.
    """
    key = "\n".join((name, started_at, model_sha256))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True, config=RECORD)
class Metric(JSONRecord):
    """One measurement. Checks produce these and never judge them.

    Numbers arrive from numpy as often as from Python; validation makes them plain `float`
    and `int`, so they serialise, and refuses a value that is not finite.
    """

    check: str
    name: str
    value: float
    feature: str | None = None
    group: str | None = None
    probe: str | None = None
    perturbation: str | None = None
    level: int | None = None
    method: str | None = None
    layer: int | None = None
    head: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    # Optional: what the judge needs to rebuild the interval at a family-adjusted level, and
    # to say how large a gap the measurement could detect. Absent in older findings.json files.
    interval: IntervalBasis | None = None
    power: PowerBasis | None = None

    def __post_init__(self) -> None:
        for name in ("value", "ci_low", "ci_high"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"Metric {self.check}/{self.name}: {name} is not finite ({v})")

    @property
    def subject(self) -> str:
        """A short human label of what was measured, e.g. `race=Black` or `gaussian@2`."""
        parts = []
        if self.feature is not None:
            parts.append(self.feature if self.group is None else f"{self.feature}={self.group}")
        elif self.group is not None:
            parts.append(self.group)
        if self.probe is not None:
            parts.append(f"probe {self.probe}")
        if self.layer is not None and self.head is not None:
            parts.append(f"head {self.layer}.{self.head}")
        if self.perturbation is not None:
            at = "" if self.level is None else f"@{self.level}"
            parts.append(f"{self.perturbation}{at}")
        if self.method is not None:
            parts.append(self.method)
        return ", ".join(parts) or "overall"


def _is_value(on: str) -> bool:
    return on == "value"


@dataclass(frozen=True, config=RECORD)
class Threshold(JSONRecord):
    """A bound a metric must respect; data, not code. `on` is published only when the rule
    judges an interval bound rather than the point estimate."""

    op: Literal["<=", ">=", "<", ">"]
    value: float
    warn: float | None = None
    on: Literal["value", "ci_low", "ci_high"] = Field(default="value", exclude_if=_is_value)

    def __str__(self) -> str:
        text = f"{self.op} {self.value:g}"
        if self.warn is not None:
            text += f" (warn beyond {self.warn:g})"
        if self.on != "value":
            text += f" on {self.on.replace('_', ' ')}"
        return text


@dataclass(frozen=True, config=RECORD)
class Waiver(JSONRecord):
    """An approved exception a finding was judged under (or an expired one it ignored)."""

    rule: str
    justification: str
    approver: str
    expires: str  # ISO date, inclusive
    feature: str | None = None
    group: str | None = None
    probe: str | None = None
    perturbation: str | None = None
    level: int | None = None
    method: str | None = None
    layer: int | None = None
    head: int | None = None
    expired: bool = False


@dataclass(frozen=True, config=RECORD)
class Adjustment(JSONRecord):
    """How a rule's family of judgements was corrected for multiple comparisons.

    `family_size` is the number of metrics the rule judged; `level` the confidence of the
    interval whose bound was judged (None when the rule reads a point estimate or a p-value);
    `raw` the value as the check reported it (the bound at the check's level, or the p-value)
    and `adjusted` the value the judge compared with the threshold. `p_value`/`p_adjusted`:
    the p-value of the rule's threshold test implied by the interval, and the same p-value
    adjusted by the policy's method across the family.
    """

    method: str
    family_size: int
    construction: str
    level: float | None = None
    raw: float | None = None
    adjusted: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None


@dataclass(frozen=True, config=RECORD)
class Detectable(JSONRecord):
    """The smallest true gap this measurement would detect at the rule's level with the power.

    `gap` is in the metric's units (for a ratio: the shortfall below 1); `margin` is how far
    the threshold lies from parity (None for a rule on a single rate); `alpha` the two-sided
    level the power is computed at (the family-adjusted one).
    """

    gap: float
    power: float
    alpha: float
    construction: str
    margin: float | None = None

    @property
    def underpowered(self) -> bool:
        """True when a gap as large as the rule's margin could go unseen."""
        return self.margin is not None and self.gap > self.margin


@dataclass(frozen=True, config=RECORD)
class Control(JSONRecord):
    """A (framework, clause) a rule's findings are evidence for, from the shipped catalogue."""

    framework: str
    clause: str


# A finding's published form carries its metric inline, as these keys, after the rule's
# `rule`, `check` and `metric` (the metric's name); the metric's interval basis and power stay
# with the metric in `metrics`.
_INLINE_METRIC = (*SUBJECT_KEYS, "value", "ci_low", "ci_high", "n")
# The order of a finding's remaining keys in findings.json; empty tuples and texts are left out.
_FINDING_TAIL = (
    "threshold",
    "severity",
    "status",
    "message",
    "rationale",
    "references",
    "controls",
    "waiver",
    "adjustment",
    "detectable",
)


@dataclass(frozen=True, config=RECORD)
class Finding(JSONRecord):
    """A policy rule applied to one metric (or to the absence of one)."""

    rule: str
    check: str
    metric_name: str
    status: Status
    severity: Severity
    threshold: Threshold | None  # None for a finding about a check run rather than a rule
    message: str
    metric: Metric | None = None
    rationale: str = ""
    references: tuple[str, ...] = ()
    waiver: Waiver | None = None
    adjustment: Adjustment | None = None
    detectable: Detectable | None = None
    controls: tuple[Control, ...] = ()

    def judged(self) -> float | None:
        """The number the rule compared with its threshold: the point estimate, or the
        interval bound the rule reads (after any multiple-comparison adjustment)."""
        if self.metric is None or self.threshold is None:
            return None
        if self.adjustment is not None and self.adjustment.adjusted is not None:
            return self.adjustment.adjusted
        bound: float | None = getattr(self.metric, self.threshold.on)
        return bound

    @model_serializer(mode="wrap")
    def _published(self, fields: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = fields(self)
        metric = data.get("metric") or {}
        out = {"rule": data["rule"], "check": data["check"], "metric": data["metric_name"]}
        out |= {k: metric[k] for k in _INLINE_METRIC if k in metric}
        return out | {k: data[k] for k in _FINDING_TAIL if data.get(k) not in (None, "", [])}

    @model_validator(mode="before")
    @classmethod
    def _from_published(cls, data: Any) -> Any:
        """The published form back as fields; construction by keyword passes through."""
        if not isinstance(data, Mapping):
            return data
        # a finding about a check run publishes no threshold
        fields = {k: v for k, v in data.items() if k not in _INLINE_METRIC}
        fields = {"threshold": None, "message": ""} | fields
        inline = {k: data[k] for k in _INLINE_METRIC if k in data}
        if "metric" in fields:
            fields["metric_name"] = name = fields.pop("metric")
            if inline:
                fields["metric"] = {"check": data.get("check"), "name": name, **inline}
        return fields


# Worst first: the status a clause's evidence shows is the worst of its findings'.
STATUS_SEVERITY = (
    Status.FAIL,
    Status.ERROR,
    Status.INSUFFICIENT_DATA,
    Status.WARN,
    Status.WAIVED,
    Status.PASS,
    Status.SKIPPED,
)
Coverage = Literal["evidence", "report", "no_rule", "not_in_scope"]


def _object(value: Any, what: str) -> Mapping[str, Any]:
    """`value` if it is a JSON object; a TypeError naming `what` otherwise (callers say where)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"`{what}` must be an object, not {type(value).__name__}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise TypeError(f"`{what}` must be a list, not {type(value).__name__}")
    return list(value)


def _level_renamed(data: Any, old: str, what: str) -> dict[str, Any]:
    """A copy of the version-1 record `data` with the perturbation level's key `old` as `level`."""
    out = dict(_object(data, what))
    if old in out:
        out["level"] = out.pop(old)
    return out


def metric_from_v1(data: Any) -> dict[str, Any]:
    """A version-1 metric (findings.json, or a ledger row written before version 2) in version
    2's keys. Only the perturbation level's name changed, `severity` to `level`; a version-2
    metric has no `severity` key, so it comes back as it was."""
    return _level_renamed(data, _V1_LEVEL, "metric")


def _finding_from_v1(data: Any) -> dict[str, Any]:
    out = _level_renamed(data, _V1_FINDING_LEVEL, "finding")
    if isinstance(out.get("waiver"), Mapping):
        out["waiver"] = _level_renamed(out["waiver"], _V1_LEVEL, "finding waiver")
    return out


def _findings_from_v1(data: Mapping[str, Any]) -> dict[str, Any]:
    """A findings.json version 1 document in version 2's shape, for the version 2 reader."""
    findings = _list(data.get("findings", ()), "findings")
    return {
        **data,
        "schema_version": FINDINGS_SCHEMA_VERSION,
        "metrics": [metric_from_v1(m) for m in _list(data["metrics"], "metrics")],
        "findings": [_finding_from_v1(f) for f in findings],
    }


def worst_status(statuses: Iterable[Status]) -> Status | None:
    """The worst of `statuses` in `STATUS_SEVERITY` order; None when there are none."""
    given = set(statuses)
    return next((s for s in STATUS_SEVERITY if s in given), None)


class _DerivedStatus(JSONRecord):
    """A record whose published `status` is derived from its other fields: reading ignores it
    and derives it again, so a document cannot state a status its findings do not bear out."""

    @model_validator(mode="before")
    @classmethod
    def _without_status(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {k: v for k, v in data.items() if k != "status"}


@dataclass(frozen=True, config=RECORD)
class RuleEvidence(_DerivedStatus):
    """One rule's findings as evidence for a clause: how many ended in each status, and which
    subjects the statuses other than pass and skipped stand for (`race=Black`), so a reviewer
    sees the findings behind a clause's status, not only their count."""

    rule: str
    severity: Severity
    statuses: Mapping[Status, int] = Field(
        validation_alias="findings", serialization_alias="findings"
    )
    flagged: Mapping[Status, tuple[str, ...]] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Status | None:
        return worst_status(s for s, n in self.statuses.items() if n)

    @field_serializer("statuses", "flagged")
    def _worst_first(self, by_status: Mapping[Status, Any]) -> dict[str, Any]:
        return {s.value: by_status[s] for s in STATUS_SEVERITY if s in by_status}


@dataclass(frozen=True, config=RECORD)
class ClauseCoverage(_DerivedStatus):
    """A clause of a framework the policy cites, and what this audit offers as evidence.

    `coverage`: `evidence` (rules cite it; see their findings), `report` (the signed report is
    the evidence), `no_rule` (an audit could cover it, this policy does not), `not_in_scope`
    (no automated audit can: `note` says why).
    """

    _json_keeps_none = True  # `status` is null when no rule gives evidence

    clause: str
    title: str
    asks: str
    coverage: Coverage
    note: str = ""
    rules: tuple[RuleEvidence, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Status | None:
        return worst_status(s for r in self.rules if (s := r.status) is not None)


@dataclass(frozen=True, config=RECORD)
class FrameworkCoverage(JSONRecord):
    """Every catalogued clause of one framework the policy's rules cite."""

    framework: str
    title: str
    citation: str
    clauses: tuple[ClauseCoverage, ...]


@dataclass(frozen=True, config=RECORD)
class FrameworkMapping(JSONRecord):
    """The crosswalk from findings to framework clauses (docs/contract.md, findings.json)."""

    catalogue_version: str = ""
    frameworks: tuple[FrameworkCoverage, ...] = ()


@dataclass(frozen=True, config=RECORD)
class CheckRun(JSONRecord):
    """Whether a check ran; a crashed or skipped check is evidence too."""

    _json_keeps_none = True

    check: str
    state: Literal["ran", "skipped", "error"]
    message: str = ""
    seconds: float = 0.0
    # metric name -> why the check deliberately did not measure it (e.g. no probes declared)
    not_applicable: Mapping[str, str] = Field(default_factory=dict)


@dataclass(frozen=True, config=RECORD)
class Provenance(JSONRecord):
    """The hashes and versions that make an audit reproducible. The policy's hash is published
    with the policy (`policy.sha256`), not repeated here."""

    model_sha256: str
    data_sha256: str
    spec_sha256: str
    policy_sha256: Annotated[str, Field(exclude=True)]
    seed: int
    versions: Mapping[str, str] = Field(default_factory=dict)


@dataclass(frozen=True, config=RECORD)
class PolicyInfo(JSONRecord):
    """Which policy judged, and the statistical settings the report must state. The policy's
    text travels as the report's attachment, not in findings.json."""

    name: str
    version: str
    sha256: str
    text: str = Field(default="", exclude=True)
    confidence: float = 0.95
    min_group_size: int = 30
    multiple_comparisons: str = "holm"


class UnreadableSchema(ValueError):
    """A findings.json of a version this audit does not read (or no findings.json at all)."""


@dataclass(frozen=True, config=RECORD)
class AuditResult(JSONRecord):
    """Everything the report, the gate and the ledger need; computed once, presented many times.

    Its JSON form is the `findings.json` document of docs/contract.md, section 5: the audit's
    name and times under `audit`, the provenance with the policy's hash under `policy`, and
    neither the evidence nor the spec's text (the spec travels beside it).
    """

    name: str
    started_at: str
    finished_at: str
    verdict: Verdict
    policy: PolicyInfo
    provenance: Provenance
    metrics: tuple[Metric, ...]
    findings: tuple[Finding, ...] = ()
    check_runs: tuple[CheckRun, ...] = Field(
        default=(), validation_alias="checks", serialization_alias="checks"
    )
    spec_text: str = Field(default="", exclude=True)
    model_info: Mapping[str, Any] = Field(default_factory=dict)
    data_info: Mapping[str, Any] = Field(default_factory=dict)
    # Per check, its declared `evidence_type` object; "history": the ledger's comparison.
    evidence: Mapping[str, object] = Field(default_factory=dict, exclude=True)
    framework_mapping: FrameworkMapping = FrameworkMapping()

    def findings_json(self) -> dict[str, Any]:
        """The `findings.json` document of docs/contract.md, section 5."""
        return self.to_json()

    @model_serializer(mode="wrap")
    def _published(self, fields: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = fields(self)
        return {
            "schema_version": FINDINGS_SCHEMA_VERSION,
            "audit": {k: data[k] for k in ("name", "started_at", "finished_at")},
            "verdict": data["verdict"],
            "policy": data["policy"],
            "provenance": data["provenance"],
            "model_info": data.get("model_info", {}),
            "data_info": data.get("data_info", {}),
            "checks": data.get("checks", []),
            "metrics": data["metrics"],
            "findings": data["findings"],
            "framework_mapping": data.get("framework_mapping", {}),
        }

    @model_validator(mode="before")
    @classmethod
    def _from_published(cls, data: Any) -> Any:
        """A version-2 document back as fields; construction by keyword passes through."""
        if not isinstance(data, Mapping):
            return data
        if data.get("schema_version") != FINDINGS_SCHEMA_VERSION:
            raise ValueError(f"schema_version must be {FINDINGS_SCHEMA_VERSION}")
        fields = {k: v for k, v in data.items() if k not in ("schema_version", "audit")}
        audit = data.get("audit")
        if isinstance(audit, Mapping):
            fields |= {k: audit[k] for k in ("name", "started_at", "finished_at") if k in audit}
        policy, provenance = data.get("policy"), data.get("provenance")
        if isinstance(policy, Mapping) and isinstance(provenance, Mapping):
            fields["provenance"] = {"policy_sha256": policy.get("sha256"), **provenance}
        return fields

    @classmethod
    def from_findings_json(cls, data: Mapping[str, Any], *, spec_text: str = "") -> AuditResult:
        """Rebuild the result `findings_json` wrote (evidence is not kept there).

        Reads every version in `READABLE_SCHEMA_VERSIONS` (version 1 through
        `_findings_from_v1`) and refuses any other with `UnreadableSchema`. Raises KeyError
        when `schema_version` is missing and `pydantic.ValidationError` (a ValueError) on a
        malformed document, located by `first_error`; callers say where.
        """
        version = data["schema_version"]
        if isinstance(version, bool) or version not in READABLE_SCHEMA_VERSIONS:
            readable = " or ".join(str(v) for v in READABLE_SCHEMA_VERSIONS)
            raise UnreadableSchema(UNKNOWN_SCHEMA.format(version=version, readable=readable))
        if version == 1:
            data = _findings_from_v1(data)
        return dataclasses.replace(cls.from_json(data), spec_text=spec_text)
