"""`audit history` (the ledger, its trend and its integrity) and `audit schedule`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from audit.cli import _console

if TYPE_CHECKING:  # imported when a command runs: every command would pay for SQLAlchemy
    from audit.ledger import Ledger, LedgerEntry, ReportCheck, ReviewRecord

_VERDICT_STYLE = {"pass": "green", "fail": "bold red", "error": "bold red"}
CHAIN_OK = "Ledger chain intact: {records} records, head {head}."
CHAIN_BROKEN = "Ledger chain BROKEN ({records} records): the history was altered."
REPORTS_SUMMARY = (
    "Reports: {ok} match their recorded sha256, {mismatch} changed, {missing} missing, "
    "{not_recorded} not recorded (older records or no report)."
)
REPORT_CHANGED = (
    "record {seq} ({name}): report changed after it was recorded: {path} "
    "(sha256 {actual:.12} instead of {recorded:.12})"
)
REPORT_GONE = "record {seq} ({name}): report missing: {path}"


def _changes(entry: LedgerEntry, before: LedgerEntry | None) -> list[str]:
    """Short labels of what moved since the audit before this one (same spec name)."""
    if before is None:
        return []
    from audit.ledger import drift

    d = drift(entry.metrics, before.metrics, entry.findings, before.findings)
    labels = [
        f"{c['metric']} [{c['subject']}] {c['previous']:.3g}→{c['current']:.3g}" for c in d.changed
    ]
    labels += [f"new failure {f['rule']} [{f['subject']}]" for f in d.new_failures]
    labels += [f"fixed {f['rule']} [{f['subject']}]" for f in d.fixed]
    labels += [f"not measured this time {f['rule']} [{f['subject']}]" for f in d.not_measured]
    labels += [f"waived {f['rule']} [{f['subject']}]" for f in d.waived]
    return labels


def _with_changes(
    ledger: Ledger, entries: list[LedgerEntry]
) -> list[tuple[LedgerEntry, list[str]]]:
    last: dict[str, LedgerEntry | None] = {}
    out = []
    for entry in entries:
        if entry.name not in last:
            last[entry.name] = ledger.previous(entry.name, before=entry.seq)
        out.append((entry, _changes(entry, last[entry.name])))
        last[entry.name] = entry
    return out


_DECIDED = {"approve": "approved", "conditions": "approved with conditions", "reject": "rejected"}


def review_state(reviews: list[ReviewRecord]) -> str:
    """'pending', or the latest review: 'approved by X on D', 'rejected by X on D'."""
    if not reviews:
        return "pending"
    last = reviews[-1]
    return (
        f"{_DECIDED.get(last.decision, last.decision)} by {last.reviewer} on {last.signed_at[:10]}"
    )


def _review_of(ledger: Ledger, entry: LedgerEntry) -> str:
    from audit.records import audit_id

    return review_state(
        ledger.reviews(audit_id(entry.name, entry.started_at, entry.hashes["model"]))
    )


def _print_json(payload: object) -> None:
    _console.out.print(json.dumps(payload, indent=2), soft_wrap=True, markup=False)


def _table(rows: list[tuple[LedgerEntry, list[str], str]]) -> Table:
    table = Table(title="Audit history")
    columns = (
        "#",
        "finished",
        "audit",
        "verdict",
        "model",
        "policy",
        "review",
        "changed since last",
    )
    for col in columns:
        table.add_column(col)
    for entry, changes, review in rows:
        style = _VERDICT_STYLE[entry.verdict.value]
        table.add_row(
            str(entry.seq),
            entry.finished_at,
            escape(entry.name),
            f"[{style}]{entry.verdict.value}[/]",
            entry.hashes["model"][:12],
            escape(entry.policy),
            escape(review),
            escape("; ".join(changes) or "-"),
        )
    return table


def history(
    name: str | None = typer.Argument(None, help="Only this audit (the spec's `name`)."),
    verify: bool = typer.Option(
        False, "--verify", help="Check the ledger's hash chain and re-hash every report."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show the last N records."),
    url: str | None = typer.Option(
        None, "--ledger", help="SQLAlchemy URL (default: AUDIT_LEDGER_URL or the data folder)."
    ),
) -> int:
    """List past audits and what changed between them; --verify exits 1 if the chain was
    altered or a recorded report changed (a missing report is flagged, not fatal)."""
    from audit.ledger import Ledger

    with Ledger(url) as ledger:
        if verify:
            return _verify(ledger, as_json)
        rows = [
            (e, c, _review_of(ledger, e))
            for e, c in _with_changes(ledger, ledger.entries(name, limit=limit))
        ]
    if as_json:
        _print_json([{**e.to_json(), "changed_since_last": c, "review": r} for e, c, r in rows])
    elif not rows:
        _console.out.print("No audits recorded yet" + (f" for {name}." if name else "."))
    else:
        _console.out.print(_table(rows))
    return 0


def _verify(ledger: Ledger, as_json: bool) -> int:
    from audit.ledger import REPORT_MISMATCH

    check = ledger.verify_chain()
    reports = ledger.verify_reports()
    changed = [r for r in reports if r.state == REPORT_MISMATCH]
    ok = check.ok and not changed
    if as_json:
        _print_json(
            {
                "ok": ok,
                "chain_ok": check.ok,
                "records": check.records,
                "head": check.head,
                "problems": list(check.problems),
                "reports": [r.to_json() for r in reports],
            }
        )
        return 0 if ok else 1
    if check.ok:
        _console.out.print(CHAIN_OK.format(records=check.records, head=check.head))
    else:
        _console.error(CHAIN_BROKEN.format(records=check.records))
        for problem in check.problems:
            _console.err.print(f"  {escape(problem)}")
    _print_reports(reports)
    return 0 if ok else 1


def _print_reports(reports: list[ReportCheck]) -> None:
    from audit.ledger import REPORT_MISMATCH, REPORT_MISSING, REPORT_NOT_RECORDED, REPORT_OK

    states = (REPORT_OK, REPORT_MISMATCH, REPORT_MISSING, REPORT_NOT_RECORDED)
    count = {s: sum(r.state == s for r in reports) for s in states}
    _console.out.print(
        REPORTS_SUMMARY.format(
            ok=count[REPORT_OK],
            mismatch=count[REPORT_MISMATCH],
            missing=count[REPORT_MISSING],
            not_recorded=count[REPORT_NOT_RECORDED],
        )
    )
    for r in reports:
        fields = {"seq": r.seq, "name": r.name, "path": r.path}
        if r.state == REPORT_MISMATCH:
            _console.error(REPORT_CHANGED.format(**fields, actual=r.actual, recorded=r.recorded))
        elif r.state == REPORT_MISSING:
            _console.err.print(
                f"[yellow]warning:[/] {escape(REPORT_GONE.format(**fields))}", soft_wrap=True
            )


def schedule(
    spec: Path = typer.Argument(..., help="The audit spec (YAML)."),
    cron: str = typer.Option(..., "--cron", help='Cron expression, e.g. "0 6 * * 1".'),
    out: Path | None = typer.Option(None, "--out", help="Output folder of every run."),
    policy: str | None = typer.Option(None, "--policy", help="Override the spec's policy."),
    name: str | None = typer.Option(None, "--name", help="Deployment name (default: spec name)."),
    timezone: str | None = typer.Option(None, "--timezone", help="IANA zone of the schedule."),
) -> int:
    """Serve the audit flow on a cron schedule (needs PREFECT_API_URL); runs until stopped."""
    from audit.preflight import preflight
    from flows.schedule import serve_audit

    preflight(spec, policy=policy, out=out, cron=cron)  # a mistake fails now, not at 3 a.m.

    serve_audit(spec, cron, name=name, out_dir=out, policy=policy, timezone=timezone)
    return 0


def register(app: typer.Typer) -> None:
    app.command("history")(history)
    app.command("schedule")(schedule)
