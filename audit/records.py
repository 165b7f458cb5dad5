"""The typed records that cross stage boundaries: measurements, judgements, results.

Checks emit `Metric`s, the policy turns them into `Finding`s, and the report and the
ledger read a finished `AuditResult`. Everything here is immutable and JSON-ready.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypedDict


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


@dataclass(frozen=True)
class IntervalBasis:
    """How a metric's interval was made, so the judge can rebuild it at another level.

    `wilson`: a Wilson score interval of `successes` out of `trials`, rebuilt exactly.
    `percentile`: a percentile bootstrap interval, rebuilt by its normal tails
    (`audit.stats.widened_interval`). `confidence` is the level the interval was made at.
    """

    method: Literal["wilson", "percentile"]
    confidence: float
    successes: int | None = None
    trials: int | None = None

    def __post_init__(self) -> None:
        # numpy scalars must not reach findings.json
        object.__setattr__(self, "confidence", float(self.confidence))
        for name in ("successes", "trials"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, int(v))

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class PowerBasis:
    """What the power of a comparison depends on: the two group sizes and the pooled rate.

    `sizes` are the groups whose comparison is hardest to power (the smallest pair for an
    aggregate, the group and the reference for an impact ratio); `scale` says whether the
    metric is a difference of rates or a ratio of them.
    """

    sizes: tuple[int, int]
    rate: float
    scale: Literal["difference", "ratio"]

    def __post_init__(self) -> None:
        a, b = self.sizes
        object.__setattr__(self, "sizes", (int(a), int(b)))
        object.__setattr__(self, "rate", float(self.rate))

    def to_json(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes), "rate": self.rate, "scale": self.scale}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PowerBasis:
        a, b = data["sizes"]
        return cls(sizes=(int(a), int(b)), rate=float(data["rate"]), scale=data["scale"])


def audit_id(name: str, started_at: str, model_sha256: str) -> str:
    """A short stable id: the first 12 hex digits of sha256(name, started_at, model hash).

    It names one run of one audit on one model; the same inputs give the same id, and the
    report, the ledger, reviews and `audit verify` can all quote it.
    """
    key = "\n".join((name, started_at, model_sha256))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Metric:
    """One measurement. Checks produce these and never judge them."""

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
        # Normalize numpy scalars and 0-d arrays to plain numbers: they must serialize to JSON.
        for name in ("value", "ci_low", "ci_high"):
            v = getattr(self, name)
            if v is None:
                continue
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"Metric {self.check}/{self.name}: {name} is not finite ({v})")
            object.__setattr__(self, name, v)
        for name in ("n", "level", "layer", "head"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, int(v))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "name": self.name, "value": self.value}
        for key in _METRIC_OPTIONAL:
            v = getattr(self, key)
            if v is not None:
                out[key] = v
        if self.interval is not None:
            out["interval"] = self.interval.to_json()
        if self.power is not None:
            out["power"] = self.power.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Metric:
        interval, power = data.get("interval"), data.get("power")
        return cls(
            **{k: data[k] for k in ("check", "name", "value", *_METRIC_OPTIONAL) if k in data},
            interval=IntervalBasis(**interval) if isinstance(interval, Mapping) else None,
            power=PowerBasis.from_json(power) if isinstance(power, Mapping) else None,
        )

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


@dataclass(frozen=True)
class Threshold:
    """A bound a metric must respect; data, not code."""

    op: Literal["<=", ">=", "<", ">"]
    value: float
    warn: float | None = None
    on: Literal["value", "ci_low", "ci_high"] = "value"

    def __str__(self) -> str:
        text = f"{self.op} {self.value:g}"
        if self.warn is not None:
            text += f" (warn beyond {self.warn:g})"
        if self.on != "value":
            text += f" on {self.on.replace('_', ' ')}"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "value": self.value}
        if self.warn is not None:
            out["warn"] = self.warn
        if self.on != "value":
            out["on"] = self.on
        return out


@dataclass(frozen=True)
class Waiver:
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

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Adjustment:
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

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Detectable:
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

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Control:
    """A (framework, clause) a rule's findings are evidence for, from the shipped catalogue."""

    framework: str
    clause: str

    def to_json(self) -> dict[str, str]:
        return {"framework": self.framework, "clause": self.clause}


@dataclass(frozen=True)
class Finding:
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

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "check": self.check, "metric": self.metric_name}
        if self.metric is not None:
            for key in SUBJECT_KEYS:
                v = getattr(self.metric, key)
                if v is not None:
                    out[key] = v
            out["value"] = self.metric.value
            if self.metric.ci_low is not None:
                out["ci_low"] = self.metric.ci_low
                out["ci_high"] = self.metric.ci_high
            if self.metric.n is not None:
                out["n"] = self.metric.n
        if self.threshold is not None:
            out["threshold"] = self.threshold.to_json()
        out["severity"] = self.severity.value
        out["status"] = self.status.value
        out["message"] = self.message
        if self.controls:
            out["controls"] = [c.to_json() for c in self.controls]
        if self.waiver is not None:
            out["waiver"] = self.waiver.to_json()
        if self.adjustment is not None:
            out["adjustment"] = self.adjustment.to_json()
        if self.detectable is not None:
            out["detectable"] = self.detectable.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        """The inverse of `to_json`; raises KeyError/ValueError on a malformed record."""
        metric = None
        if "value" in data:
            extra = {k: data[k] for k in _METRIC_OPTIONAL if k in data}
            metric = Metric(check=data["check"], name=data["metric"], value=data["value"], **extra)
        t = data.get("threshold")
        waiver, adjustment, detectable = (
            data.get(k) for k in ("waiver", "adjustment", "detectable")
        )
        return cls(
            rule=data["rule"],
            check=data["check"],
            metric_name=data["metric"],
            status=Status(data["status"]),
            severity=Severity(data["severity"]),
            threshold=None
            if t is None
            else Threshold(t["op"], t["value"], t.get("warn"), t.get("on", "value")),
            message=data.get("message", ""),
            metric=metric,
            waiver=Waiver(**waiver) if isinstance(waiver, Mapping) else None,
            adjustment=Adjustment(**adjustment) if isinstance(adjustment, Mapping) else None,
            detectable=Detectable(**detectable) if isinstance(detectable, Mapping) else None,
            controls=tuple(
                Control(str(c["framework"]), str(c["clause"]))
                for c in _list(data.get("controls", ()), "controls")
            ),
        )


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


@dataclass(frozen=True)
class RuleEvidence:
    """One rule's findings as evidence for a clause: how many ended in each status."""

    rule: str
    severity: Severity
    statuses: Mapping[Status, int]

    @property
    def status(self) -> Status | None:
        return worst_status(s for s, n in self.statuses.items() if n)

    def to_json(self) -> dict[str, Any]:
        worst = self.status
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "status": worst.value if worst else None,
            "findings": {s.value: self.statuses[s] for s in STATUS_SEVERITY if s in self.statuses},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RuleEvidence:
        data = _object(data, "framework_mapping rule")
        counts = _object(data.get("findings", {}), "framework_mapping rule findings")
        return cls(
            data["rule"], Severity(data["severity"]), {Status(s): int(n) for s, n in counts.items()}
        )


@dataclass(frozen=True)
class ClauseCoverage:
    """A clause of a framework the policy cites, and what this audit offers as evidence.

    `coverage`: `evidence` (rules cite it; see their findings), `report` (the signed report is
    the evidence), `no_rule` (an audit could cover it, this policy does not), `not_in_scope`
    (no automated audit can: `note` says why).
    """

    clause: str
    title: str
    asks: str
    coverage: Coverage
    note: str = ""
    rules: tuple[RuleEvidence, ...] = ()

    @property
    def status(self) -> Status | None:
        return worst_status(s for r in self.rules if (s := r.status) is not None)

    def to_json(self) -> dict[str, Any]:
        worst = self.status
        return {
            "clause": self.clause,
            "title": self.title,
            "asks": self.asks,
            "coverage": self.coverage,
            "status": worst.value if worst else None,
            "note": self.note,
            "rules": [r.to_json() for r in self.rules],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClauseCoverage:
        data = _object(data, "framework_mapping clause")
        coverage = data["coverage"]
        if coverage not in ("evidence", "report", "no_rule", "not_in_scope"):
            raise ValueError(f"unknown coverage {coverage!r}")
        return cls(
            clause=data["clause"],
            title=data["title"],
            asks=data["asks"],
            coverage=coverage,
            note=data.get("note", ""),
            rules=tuple(
                RuleEvidence.from_json(r) for r in _list(data.get("rules", ()), "clause rules")
            ),
        )


@dataclass(frozen=True)
class FrameworkCoverage:
    """Every catalogued clause of one framework the policy's rules cite."""

    framework: str
    title: str
    citation: str
    clauses: tuple[ClauseCoverage, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "title": self.title,
            "citation": self.citation,
            "clauses": [c.to_json() for c in self.clauses],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FrameworkCoverage:
        data = _object(data, "framework_mapping framework")
        return cls(
            framework=data["framework"],
            title=data["title"],
            citation=data["citation"],
            clauses=tuple(ClauseCoverage.from_json(c) for c in _list(data["clauses"], "clauses")),
        )


@dataclass(frozen=True)
class FrameworkMapping:
    """The crosswalk from findings to framework clauses (docs/contract.md, findings.json)."""

    catalogue_version: str = ""
    frameworks: tuple[FrameworkCoverage, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "catalogue_version": self.catalogue_version,
            "frameworks": [f.to_json() for f in self.frameworks],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FrameworkMapping:
        data = _object(data, "framework_mapping")
        frameworks = _list(data.get("frameworks", ()), "framework_mapping.frameworks")
        return cls(
            catalogue_version=str(data.get("catalogue_version", "")),
            frameworks=tuple(FrameworkCoverage.from_json(f) for f in frameworks),
        )


@dataclass(frozen=True)
class CheckRun:
    """Whether a check ran; a crashed or skipped check is evidence too."""

    check: str
    state: Literal["ran", "skipped", "error"]
    message: str = ""
    seconds: float = 0.0
    # metric name -> why the check deliberately did not measure it (e.g. no probes declared)
    not_applicable: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Provenance:
    model_sha256: str
    data_sha256: str
    spec_sha256: str
    policy_sha256: str
    seed: int
    versions: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "model_sha256": self.model_sha256,
            "data_sha256": self.data_sha256,
            "spec_sha256": self.spec_sha256,
            "seed": self.seed,
            "versions": dict(self.versions),
        }


@dataclass(frozen=True)
class PolicyInfo:
    """Which policy judged, and the statistical settings the report must state."""

    name: str
    version: str
    sha256: str
    text: str = ""
    confidence: float = 0.95
    min_group_size: int = 30
    multiple_comparisons: str = "holm"


@dataclass(frozen=True)
class AuditResult:
    """Everything the report, the gate and the ledger need; computed once, presented many times."""

    name: str
    started_at: str
    finished_at: str
    verdict: Verdict
    policy: PolicyInfo
    provenance: Provenance
    metrics: tuple[Metric, ...]
    findings: tuple[Finding, ...]
    check_runs: tuple[CheckRun, ...] = ()
    spec_text: str = ""
    model_info: Mapping[str, Any] = field(default_factory=dict)
    data_info: Mapping[str, Any] = field(default_factory=dict)
    # Per check, its declared `evidence_type` object; "history": the ledger's comparison.
    evidence: Mapping[str, object] = field(default_factory=dict)
    framework_mapping: FrameworkMapping = FrameworkMapping()

    def findings_json(self) -> dict[str, Any]:
        """The `findings.json` document of docs/contract.md, section 5."""
        return {
            "schema_version": FINDINGS_SCHEMA_VERSION,
            "audit": {
                "name": self.name,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
            },
            "verdict": self.verdict.value,
            "policy": {
                "name": self.policy.name,
                "version": self.policy.version,
                "sha256": self.policy.sha256,
                "confidence": self.policy.confidence,
                "min_group_size": self.policy.min_group_size,
                "multiple_comparisons": self.policy.multiple_comparisons,
            },
            "provenance": self.provenance.to_json(),
            "model_info": dict(self.model_info),
            "data_info": dict(self.data_info),
            "checks": [asdict(c) for c in self.check_runs],
            "metrics": [m.to_json() for m in self.metrics],
            "findings": [f.to_json() for f in self.findings],
            "framework_mapping": self.framework_mapping.to_json(),
        }

    @classmethod
    def from_findings_json(cls, data: Mapping[str, Any], *, spec_text: str = "") -> AuditResult:
        """Rebuild the result `findings_json` wrote (evidence is not kept there).

        Reads every version in `READABLE_SCHEMA_VERSIONS` (version 1 through
        `_findings_from_v1`) and refuses any other. Raises KeyError, TypeError or ValueError on
        a malformed document; callers say where.
        """
        version = data["schema_version"]
        if isinstance(version, bool) or version not in READABLE_SCHEMA_VERSIONS:
            readable = " or ".join(str(v) for v in READABLE_SCHEMA_VERSIONS)
            raise ValueError(UNKNOWN_SCHEMA.format(version=version, readable=readable))
        if version == 1:
            data = _findings_from_v1(data)
        audit, prov, policy = data["audit"], data["provenance"], data["policy"]
        return cls(
            name=audit["name"],
            started_at=audit["started_at"],
            finished_at=audit["finished_at"],
            verdict=Verdict(data["verdict"]),
            policy=PolicyInfo(
                policy["name"],
                policy["version"],
                policy["sha256"],
                confidence=policy.get("confidence", 0.95),
                min_group_size=policy.get("min_group_size", 30),
                multiple_comparisons=policy.get("multiple_comparisons", "holm"),
            ),
            provenance=Provenance(
                model_sha256=prov["model_sha256"],
                data_sha256=prov["data_sha256"],
                spec_sha256=prov["spec_sha256"],
                policy_sha256=prov.get("policy_sha256", policy["sha256"]),
                seed=prov["seed"],
                versions=prov.get("versions", {}),
            ),
            metrics=tuple(Metric.from_json(m) for m in data["metrics"]),
            findings=tuple(Finding.from_json(f) for f in data.get("findings", ())),
            check_runs=tuple(CheckRun(**c) for c in data.get("checks", ())),
            spec_text=spec_text,
            model_info=dict(data.get("model_info", {})),
            data_info=dict(data.get("data_info", {})),
            framework_mapping=FrameworkMapping.from_json(data.get("framework_mapping", {})),
        )
