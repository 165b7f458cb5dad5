"""`audit review REPORT.pdf` (fill in and sign the sign-off form) and `audit gate REPORT.pdf`."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from audit.cli import _console
from audit.errors import SigningError, VerificationError
from audit.fsio import write_atomic
from audit.records import DECISION_TEXT, Decision

EXIT_OPEN, EXIT_SHUT = 0, 1
SUFFIX = "-reviewed"
KEY_SOURCE = "give --key and --cert, or --pkcs12."
OUT_IS_INPUT = "--out is the report itself; a review is written to a new file."
OUT_EXISTS = "{0} exists."
NOT_VERIFIED = "the report does not verify, so it cannot be reviewed: {0}"
NEEDS_TRUSTED_REVIEWER = "--require-approval needs --trust-reviewer CERT."


def default_out(report: Path) -> Path:
    """REPORT-reviewed.pdf beside the report."""
    return report.with_name(f"{report.stem}{SUFFIX}{report.suffix}")


def review_command(
    report: Annotated[Path, typer.Argument(help="The signed report.pdf to review.")],
    decision: Annotated[Decision, typer.Option("--decision", help="Your decision.")],
    name: Annotated[str, typer.Option("--name", help="Your name, as printed on the form.")],
    role: Annotated[str, typer.Option("--role", help="Your role, e.g. 'Model risk lead'.")],
    note: Annotated[
        str,
        typer.Option("--note", help="Conditions and notes (name each blocking rule id)."),
    ] = "",
    key: Annotated[Path | None, typer.Option("--key", help="Your private key (PEM/DER).")] = None,
    cert: Annotated[Path | None, typer.Option("--cert", help="Your certificate.")] = None,
    pkcs12: Annotated[Path | None, typer.Option("--pkcs12", help="Key and cert (.p12).")] = None,
    passphrase_env: Annotated[
        str | None,
        typer.Option("--passphrase-env", help="Environment variable holding the passphrase."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output file (default: REPORT-reviewed.pdf).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out.")] = False,
    ledger_url: Annotated[
        str | None, typer.Option("--ledger", help="SQLAlchemy URL of the audit ledger.")
    ] = None,
) -> int:
    """Fill in the report's sign-off form and sign it; the audit signature stays valid."""
    # imported here: pyHanko, SQLAlchemy and matplotlib would slow every other command
    from audit.ledger import Ledger
    from audit.signing.keys import load_signer
    from audit.signing.review import Review, review_pdf
    from audit.signing.verify import verify_pdf
    from audit.spec import SigningSpec

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("fontTools").setLevel(logging.ERROR)  # subsetting chatter on stderr
    target = out or default_out(report)
    if target.resolve() == report.resolve():
        raise SigningError(OUT_IS_INPUT, where=str(target), fix="pass another --out.")
    if target.exists() and not force:
        raise SigningError(OUT_EXISTS.format(target), where=str(target), fix="pass --force.")
    try:
        spec = SigningSpec(key=key, cert=cert, pkcs12=pkcs12, passphrase_env=passphrase_env)
    except ValueError:
        raise SigningError(KEY_SOURCE, where="--key/--cert/--pkcs12", fix=KEY_SOURCE) from None
    signer = load_signer(spec)
    for warning in signer.warnings:
        _console.err.print(f"warning: {escape(warning)}")
    before = verify_pdf(report)
    if not before.valid:
        raise SigningError(
            NOT_VERIFIED.format("; ".join(before.problems)),
            where=str(report),
            fix="review the report as the audit wrote it (run `audit verify`).",
        )
    signed = review_pdf(
        report.read_bytes(),
        signer,
        Review(name=name, role=role, decision=decision, notes=note),
    )
    write_atomic(target, signed)
    after = verify_pdf(target)
    with Ledger(ledger_url) as ledger:
        ledger.record_review(
            audit_id=after.audit_id or "",
            report=target,
            decision=decision.value,
            reviewer=signer.subject,
            role=role,
            notes=note,
            signed_at=(after.reviews[-1].signing_time if after.reviews else None)
            or dt.datetime.now(dt.UTC),
        )
    _console.out.print(
        f"{escape(str(target))}: {DECISION_TEXT[decision]} by {escape(signer.subject)}; "
        f"audit signature {'still valid' if after.valid else 'INVALID'}.",
        highlight=False,
    )
    return 0 if after.valid else 1


def gate_command(
    report: Annotated[Path, typer.Argument(help="The signed (and reviewed) report.pdf.")],
    require_approval: Annotated[
        bool,
        typer.Option("--require-approval", help="Open only with a trusted reviewer's approval."),
    ] = False,
    trust: Annotated[
        Path | None, typer.Option("--trust", help="Certificate the audit signer chains to.")
    ] = None,
    trust_reviewer: Annotated[
        Path | None,
        typer.Option("--trust-reviewer", help="Certificate reviewers must chain to."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> int:
    """Release gate: exit 0 when the report may be released, 1 when not, 2 when unreadable."""
    from audit.signing.gate import gate
    from audit.signing.verify import verify_pdf

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    if require_approval and trust_reviewer is None:
        raise VerificationError(
            NEEDS_TRUSTED_REVIEWER, where="--trust-reviewer", fix=NEEDS_TRUSTED_REVIEWER
        )
    verified = verify_pdf(report, trust=trust, trust_reviewer=trust_reviewer)
    result = gate(verified, require_approval=require_approval)
    review = result.review
    if as_json:
        payload = {
            "file": str(report),
            "open": result.open,
            "verdict": verified.verdict,
            "decision": review.decision if review else None,
            "reviewer": review.signer if review else None,
            "reasons": result.reasons,
        }
        _console.out.print(json.dumps(payload, indent=2), soft_wrap=True, markup=False)
    elif result.open:
        by = f", approved by {review.signer}" if review and review.decision else ""
        _console.out.print(f"[green]OPEN[/]: verdict {verified.verdict}{escape(by)}.")
    else:
        _console.out.print("[bold red]SHUT[/]: " + escape(" ".join(result.reasons)))
    return EXIT_OPEN if result.open else EXIT_SHUT


def register(app: typer.Typer) -> None:
    app.command("review")(review_command)
    app.command("gate")(gate_command)
