"""The audit ledger: a tamper-evident history of completed audits, and drift between them.

Every completed audit becomes one row: spec name, time, verdict, the model/data/spec/policy
hashes, every metric, the findings' statuses, and the path and sha256 of the signed report.
Each row also stores the hash of the row before it and its own hash over all of that, so
editing or deleting a row breaks `verify_chain`. A unique constraint on `prev_hash` makes a
fork impossible: two concurrent writers cannot both append to the same head.

SQLite in the user data folder is the embedded default; any SQLAlchemy URL (for example
PostgreSQL) is accepted through `AUDIT_LEDGER_URL` or the `url` argument.

Rows carry no schema version: a metric stored before findings.json version 2 names its
perturbation level `severity`, and is read back with it as `level` (`metric_from_v1`), so the
history and the regression rules pair an old record's metrics with a new one's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic.dataclasses
import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from audit import fsio, paths
from audit.errors import AuditError
from audit.records import (
    BLOCKING_STATUSES,
    RECORD,
    REGRESSION_SUFFIX,
    SUBJECT_KEYS,
    AuditResult,
    Finding,
    JSONRecord,
    Metric,
    Status,
    Verdict,
    metric_from_v1,
)
from audit.spec import sha256_file

LEDGER_URL_ENV = "AUDIT_LEDGER_URL"
GENESIS = "0" * 64
_APPEND_ATTEMPTS = 5

BAD_URL = "cannot open the audit ledger at {url!r}: {error}"
BAD_URL_FIX = f"set {LEDGER_URL_ENV} to a SQLAlchemy URL such as sqlite:////path/ledger.sqlite"
BROKEN_LINK = "record {seq}: prev_hash does not match the hash of the record before it"
BROKEN_HASH = "record {seq}: its content does not match its stored hash (edited after writing)"
APPEND_RACE = "could not append to the ledger after {n} attempts (concurrent writers)"


class LedgerError(AuditError):
    """The ledger cannot be opened or written."""


_META = sa.MetaData()
AUDITS = sa.Table(
    "audits",
    _META,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, index=True),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("model_sha256", sa.String(64), nullable=False),
    sa.Column("data_sha256", sa.String(64), nullable=False),
    sa.Column("spec_sha256", sa.String(64), nullable=False),
    sa.Column("policy_sha256", sa.String(64), nullable=False),
    sa.Column("policy_name", sa.String(100), nullable=False),
    sa.Column("policy_version", sa.String(40), nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("findings", sa.Text, nullable=False),
    sa.Column("report_path", sa.Text, nullable=True),
    sa.Column("report_sha256", sa.String(64), nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
)
# Every column but `seq` and `hash` is covered by the record's hash.
_HASHED = tuple(c.name for c in AUDITS.columns if c.name not in ("seq", "hash"))
# Reviews (`audit review`), keyed on the audit id the report's keywords carry. A review is a
# fact about a report file, not part of the audit's hash chain; the signed PDF is the proof.
REVIEWS = sa.Table(
    "reviews",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("audit_id", sa.String(40), nullable=False, index=True),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("signed_at", sa.String(40), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reviewer", sa.String(200), nullable=False),
    sa.Column("role", sa.String(200), nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("report_path", sa.Text, nullable=False),
    sa.Column("report_sha256", sa.String(64), nullable=False),
)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _row_hash(row: Mapping[str, Any] | sa.RowMapping) -> str:
    return hashlib.sha256(_canonical({k: row[k] for k in _HASHED}).encode()).hexdigest()


def _finding_row(f: Finding) -> dict[str, Any]:
    """What drift needs from a finding: which rule, on what, and how it fared."""
    return {
        "rule": f.rule,
        "check": f.check,
        "metric": f.metric_name,
        "subject": f.metric.subject if f.metric else "",
        "status": f.status.value,
        "severity": f.severity.value,
        "value": f.metric.value if f.metric else None,
    }


@pydantic.dataclasses.dataclass(frozen=True, config=RECORD)
class LedgerEntry(JSONRecord):
    """One recorded audit, as read back from the ledger (`audit history --json` prints it)."""

    _json_keeps_none = True

    seq: int
    name: str
    recorded_at: str
    started_at: str
    finished_at: str
    verdict: Verdict
    hashes: Mapping[str, str]  # model, data, spec, policy
    policy: str  # "name@version"
    metrics: tuple[Metric, ...]
    findings: tuple[Mapping[str, Any], ...]
    report_path: str | None
    report_sha256: str | None
    run_id: str | None
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | sa.RowMapping) -> LedgerEntry:
        return cls(
            seq=row["seq"],
            name=row["name"],
            recorded_at=row["recorded_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            verdict=Verdict(row["verdict"]),
            hashes={k: row[f"{k}_sha256"] for k in ("model", "data", "spec", "policy")},
            policy=f"{row['policy_name']}@{row['policy_version']}",
            metrics=tuple(Metric.from_json(metric_from_v1(m)) for m in json.loads(row["metrics"])),
            findings=tuple(json.loads(row["findings"])),
            report_path=row["report_path"],
            report_sha256=row["report_sha256"],
            run_id=row["run_id"],
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )


@pydantic.dataclasses.dataclass(frozen=True, config=RECORD)
class ReviewRecord(JSONRecord):
    """One recorded `audit review`."""

    audit_id: str
    recorded_at: str
    signed_at: str
    decision: str  # approve | conditions | reject
    reviewer: str
    role: str
    notes: str
    report_path: str
    report_sha256: str


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of `verify_chain`; `head` is the last hash, worth keeping elsewhere."""

    ok: bool
    records: int
    head: str
    problems: tuple[str, ...] = ()


REPORT_OK = "ok"
REPORT_MISMATCH = "mismatch"
REPORT_MISSING = "missing"
REPORT_NOT_RECORDED = "not recorded"


@pydantic.dataclasses.dataclass(frozen=True, config=RECORD)
class ReportCheck(JSONRecord):
    """One record's report against the sha256 the ledger stored when the audit finished.

    `not recorded`: a row from before the ledger stored hashes, or an audit without a report;
    there is nothing to compare, which is said rather than passed.
    """

    seq: int
    name: str
    path: str | None
    state: str  # REPORT_OK | REPORT_MISMATCH | REPORT_MISSING | REPORT_NOT_RECORDED
    _json_keeps_none = True

    recorded: str | None = Field(default=None, serialization_alias="recorded_sha256")
    actual: str | None = Field(default=None, serialization_alias="actual_sha256")


def default_url() -> str:
    """`AUDIT_LEDGER_URL`, else SQLite in the user data folder."""
    url = os.environ.get(LEDGER_URL_ENV)
    if url:
        return url
    return f"sqlite:///{paths.data_dir() / 'ledger.sqlite'}"


def _seal_outputs(report: Path | None) -> None:
    """Once the ledger points at a report, a cancel of the run must no longer delete it."""
    claim = fsio.active_claim()
    if (
        claim is not None
        and report is not None
        and Path(report).resolve().parent == (claim.folder.resolve())
    ):
        claim.seal()


class Ledger:
    """Append-only audit history behind any SQLAlchemy engine."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        try:
            parsed = sa.engine.make_url(self.url)
            kwargs: dict[str, Any] = {}
            if parsed.get_backend_name() == "sqlite":
                kwargs["connect_args"] = {"timeout": 30}
                if parsed.database and parsed.database != ":memory:":
                    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(parsed, **kwargs)
            _META.create_all(self.engine)
        except (ArgumentError, NoSuchModuleError, SQLAlchemyError, OSError) as exc:
            raise LedgerError(
                BAD_URL.format(url=self.url, error=str(exc).splitlines()[0]),
                where=LEDGER_URL_ENV,
                fix=BAD_URL_FIX,
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(
        self, result: AuditResult, report: Path | None = None, *, run_id: str | None = None
    ) -> LedgerEntry:
        """Append one completed audit atomically; the row links to the current head."""
        content: dict[str, Any] = {
            "name": result.name,
            "started_at": result.started_at,
            "finished_at": result.finished_at,
            "verdict": result.verdict.value,
            "model_sha256": result.provenance.model_sha256,
            "data_sha256": result.provenance.data_sha256,
            "spec_sha256": result.provenance.spec_sha256,
            "policy_sha256": result.provenance.policy_sha256,
            "policy_name": result.policy.name,
            "policy_version": result.policy.version,
            "metrics": _canonical([m.to_json() for m in result.metrics]),
            "findings": _canonical([_finding_row(f) for f in result.findings]),
            "report_path": str(Path(report).resolve()) if report else None,
            "report_sha256": sha256_file(Path(report)) if report else None,
            "run_id": run_id,
        }
        for _ in range(_APPEND_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    head = conn.execute(
                        sa.select(AUDITS.c.hash).order_by(AUDITS.c.seq.desc()).limit(1)
                    ).scalar()
                    row = {
                        **content,
                        "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
                        "prev_hash": head or GENESIS,
                    }
                    row["hash"] = _row_hash(row)
                    # SQLAlchemy types the key Optional; an INSERT on a table with one has it.
                    seq = conn.execute(sa.insert(AUDITS).values(**row)).inserted_primary_key[0]  # type: ignore[index]
                _seal_outputs(report)
                return LedgerEntry.from_row({**row, "seq": seq})
            except IntegrityError:
                continue  # another writer appended first; link to the new head
        raise LedgerError(APPEND_RACE.format(n=_APPEND_ATTEMPTS), where=self.url)

    def record_review(
        self,
        *,
        audit_id: str,
        report: Path,
        decision: str,
        reviewer: str,
        role: str,
        notes: str,
        signed_at: dt.datetime,
    ) -> ReviewRecord:
        """Append the review of the report with this audit id (the reviewed file's hash too)."""
        row = {
            "audit_id": audit_id,
            "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
            "signed_at": signed_at.isoformat(),
            "decision": decision,
            "reviewer": reviewer,
            "role": role,
            "notes": notes,
            "report_path": str(Path(report).resolve()),
            "report_sha256": sha256_file(Path(report)),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(REVIEWS).values(**row))
        except SQLAlchemyError as exc:
            raise LedgerError(
                BAD_URL.format(url=self.url, error=str(exc).splitlines()[0]), where=self.url
            ) from None
        return ReviewRecord(**row)

    def reviews(self, audit_id: str) -> list[ReviewRecord]:
        """Reviews of one audit's report, oldest first."""
        query = sa.select(REVIEWS).where(REVIEWS.c.audit_id == audit_id).order_by(REVIEWS.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [ReviewRecord(**{k: r[k] for k in r if k != "id"}) for r in rows]

    def entries(self, name: str | None = None, *, limit: int | None = None) -> list[LedgerEntry]:
        """Records oldest first (the last `limit` of them), optionally for one spec name."""
        query = sa.select(AUDITS).order_by(AUDITS.c.seq.desc())
        if name is not None:
            query = query.where(AUDITS.c.name == name)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [LedgerEntry.from_row(r) for r in reversed(rows)]

    def previous(
        self, name: str, *, passing_only: bool = False, before: int | None = None
    ) -> LedgerEntry | None:
        """The latest record of `name` (before sequence number `before`, if given)."""
        query = sa.select(AUDITS).where(AUDITS.c.name == name)
        if passing_only:
            query = query.where(AUDITS.c.verdict == Verdict.PASS.value)
        if before is not None:
            query = query.where(AUDITS.c.seq < before)
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(AUDITS.c.seq.desc()).limit(1)).mappings().first()
        return LedgerEntry.from_row(row) if row else None

    def verify_reports(self) -> list[ReportCheck]:
        """Re-hash every recorded report that still exists; flag a changed or missing one."""
        query = sa.select(
            AUDITS.c.seq, AUDITS.c.name, AUDITS.c.report_path, AUDITS.c.report_sha256
        ).order_by(AUDITS.c.seq)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for row in rows:
            path, recorded = row["report_path"], row["report_sha256"]
            base = {"seq": row["seq"], "name": row["name"], "path": path, "recorded": recorded}
            if not path or not recorded:
                out.append(ReportCheck(**base, state=REPORT_NOT_RECORDED))
            elif not Path(path).is_file():
                out.append(ReportCheck(**base, state=REPORT_MISSING))
            else:
                actual = sha256_file(Path(path))
                state = REPORT_OK if actual == recorded else REPORT_MISMATCH
                out.append(ReportCheck(**base, state=state, actual=actual))
        return out

    def verify_chain(self) -> ChainCheck:
        """Recompute every hash and link; any edit, insertion or deletion inside shows up."""
        problems: list[str] = []
        expected_prev, count = GENESIS, 0
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(AUDITS).order_by(AUDITS.c.seq)).mappings():
                count += 1
                if row["prev_hash"] != expected_prev:
                    problems.append(BROKEN_LINK.format(seq=row["seq"]))
                if _row_hash(row) != row["hash"]:
                    problems.append(BROKEN_HASH.format(seq=row["seq"]))
                expected_prev = row["hash"]
        return ChainCheck(
            ok=not problems, records=count, head=expected_prev, problems=tuple(problems)
        )


# --- drift between audits -----------------------------------------------------------------

_KEY_FIELDS = ("check", "name", *SUBJECT_KEYS)


def metric_key(m: Metric) -> tuple[Any, ...]:
    """What a metric measured, without its value: the identity used to pair two audits."""
    return tuple(getattr(m, f) for f in _KEY_FIELDS)


def _failing(findings: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    blocking = {s.value for s in BLOCKING_STATUSES}
    return {(f["rule"], f["subject"]): f for f in findings if f["status"] in blocking}


_MEASURED_OK = {Status.PASS.value, Status.WARN.value}


@dataclass(frozen=True)
class Drift:
    """What changed since an earlier audit, as plain dicts the report renders.

    An earlier failure that is no longer failing is one of three things: `fixed` (measured
    again and passing), `waived` (still measured, now excused), or `not_measured` (absent or
    skipped this time: a crashed or switched-off check says nothing about the failure).
    """

    changed: tuple[Mapping[str, Any], ...]
    new_failures: tuple[Mapping[str, Any], ...]
    fixed: tuple[Mapping[str, Any], ...]
    not_measured: tuple[Mapping[str, Any], ...] = ()
    waived: tuple[Mapping[str, Any], ...] = ()

    def to_evidence(self) -> dict[str, list[Mapping[str, Any]]]:
        return {
            "changed": list(self.changed),
            "new_failures": list(self.new_failures),
            "fixed": list(self.fixed),
            "not_measured": list(self.not_measured),
            "waived": list(self.waived),
        }


def _outcome(failure: Mapping[str, Any], current: Sequence[Mapping[str, Any]]) -> str:
    """How an earlier failure that is not failing now fares: fixed, waived or not_measured.

    A subject-less failure (a check that errored as a whole) is judged on all of the rule's
    current findings, whatever their subject.
    """
    same = [
        f
        for f in current
        if f["rule"] == failure["rule"] and failure["subject"] in ("", f["subject"])
    ]
    statuses = {f["status"] for f in same}
    if statuses & _MEASURED_OK:
        return "fixed"
    if Status.WAIVED.value in statuses:
        return "waived"
    return "not_measured"


def drift(
    current_metrics: Sequence[Metric],
    previous_metrics: Sequence[Metric],
    current_findings: Sequence[Mapping[str, Any] | Finding] = (),
    previous_findings: Sequence[Mapping[str, Any] | Finding] = (),
) -> Drift:
    """Metrics whose confidence intervals no longer overlap, and failures that came or went.

    Only metrics with an interval on both sides can be said to have *changed*; a point value
    without one moves by noise alone. A failure is any blocking status (fail, error,
    insufficient_data), keyed by rule and subject.
    """
    before = {metric_key(m): m for m in previous_metrics}
    changed = []
    for m in current_metrics:
        p = before.get(metric_key(m))
        if p is None or m.ci_low is None or m.ci_high is None:
            continue
        if p.ci_low is None or p.ci_high is None:
            continue
        if m.ci_low > p.ci_high or m.ci_high < p.ci_low:
            changed.append(
                {
                    "check": m.check,
                    "metric": m.name,
                    "subject": m.subject,
                    "previous": p.value,
                    "previous_ci": [p.ci_low, p.ci_high],
                    "current": m.value,
                    "current_ci": [m.ci_low, m.ci_high],
                    "change": m.value - p.value,
                }
            )
    current = [_finding_row(f) if isinstance(f, Finding) else f for f in current_findings]
    now = _failing(current)
    then = _failing(_finding_row(f) if isinstance(f, Finding) else f for f in previous_findings)
    gone: dict[str, list[Mapping[str, Any]]] = {"fixed": [], "waived": [], "not_measured": []}
    for key, failure in then.items():
        if key not in now:
            gone[_outcome(failure, current)].append(failure)
    return Drift(
        changed=tuple(changed),
        new_failures=tuple(now[k] for k in now if k not in then),
        fixed=tuple(gone["fixed"]),
        not_measured=tuple(gone["not_measured"]),
        waived=tuple(gone["waived"]),
    )


def regression_metrics(current: Sequence[Metric], baseline: Sequence[Metric]) -> list[Metric]:
    """`<name>_change_since_last_pass` = current − baseline value, for every paired metric.

    Same check and subject as the original, so a plain threshold rule gates on it, e.g.
    `metric: demographic_parity_ratio_change_since_last_pass`, `threshold: {op: ">=",
    value: -0.05}`. `n` is the smaller of the two sample sizes, so small groups stay
    `insufficient_data`. Metrics that are themselves changes are not chained further.
    """
    base = {metric_key(m): m for m in baseline if not m.name.endswith(REGRESSION_SUFFIX)}
    out = []
    for m in current:
        b = base.get(metric_key(m))
        if b is None:
            continue
        sizes = [n for n in (m.n, b.n) if n is not None]
        out.append(
            Metric(
                check=m.check,
                name=m.name + REGRESSION_SUFFIX,
                value=m.value - b.value,
                n=min(sizes) if sizes else None,
                **{key: getattr(m, key) for key in SUBJECT_KEYS},  # every key, heads included
            )
        )
    return out


def history_evidence(previous: LedgerEntry, since: Drift) -> dict[str, Any]:
    """`evidence["history"]` for the report's "since the last audit" section."""
    return {
        "previous": {
            "seq": previous.seq,
            "finished_at": previous.finished_at,
            "verdict": previous.verdict.value,
            "model_sha256": previous.hashes["model"],
            "report_path": previous.report_path,
        },
        **since.to_evidence(),
    }


__all__ = [
    "GENESIS",
    "LEDGER_URL_ENV",
    "REGRESSION_SUFFIX",
    "REPORT_MISMATCH",
    "REPORT_MISSING",
    "REPORT_NOT_RECORDED",
    "REPORT_OK",
    "ChainCheck",
    "Drift",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "ReportCheck",
    "ReviewRecord",
    "default_url",
    "drift",
    "history_evidence",
    "metric_key",
    "regression_metrics",
]
