"""`audit verify REPORT.pdf [--trust CERT] [--trust-reviewer CERT] [--json]`.

Exit 0 valid (and trusted where a trust anchor was given), 1 invalid or untrusted, 2 unreadable.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from audit.errors import VerificationError

if TYPE_CHECKING:  # imported when the command runs: every command would pay for pyHanko
    from audit.signing.verify import VerificationReport

EXIT_VALID, EXIT_INVALID = 0, 1


def register(app: typer.Typer) -> None:
    """Add the `verify` command to the root app."""
    app.command("verify")(verify_command)


def verify_command(
    report: Annotated[Path, typer.Argument(help="The signed report.pdf to check.")],
    trust: Annotated[
        Path | None,
        typer.Option("--trust", help="Certificate (PEM/DER) the signer must chain to."),
    ] = None,
    trust_reviewer: Annotated[
        Path | None,
        typer.Option("--trust-reviewer", help="Certificate (PEM/DER) reviewers must chain to."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Check every signature in a report, what changed between them, and its findings.json."""
    # pyHanko logs expected validation failures (e.g. self-signed, untrusted) with tracebacks.
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    from audit.signing.verify import verify_pdf

    try:
        result = verify_pdf(report, trust=trust, trust_reviewer=trust_reviewer)
    except VerificationError as exc:
        if as_json:
            typer.echo(json.dumps({"file": str(report), "error": str(exc)}))
        else:
            Console(stderr=True, soft_wrap=True).print(
                f"[red]error:[/] {escape(str(exc))}", highlight=False
            )
        raise typer.Exit(exc.exit_code) from None
    code = exit_code(result)
    if as_json:
        typer.echo(json.dumps({"file": str(report), **result.as_dict()}, indent=2))
    else:
        _print(result, report)
    raise typer.Exit(code)


def exit_code(result: VerificationReport) -> int:
    """0 only when every signature is valid and, where a trust anchor was given, trusted."""
    trusted = result.trusted is not False and all(r.trusted is not False for r in result.reviews)
    return EXIT_VALID if result.valid and trusted else EXIT_INVALID


def _trust_text(trusted: bool | None, option: str) -> str:
    if trusted is None:
        return f"not checked (pass {option} CERT.pem)"
    return "yes" if trusted else "NO"


def _print(result: VerificationReport, report: Path) -> None:
    from audit.signing.review import DECISION_TEXT, Decision

    out = Console(soft_wrap=True)
    ok = exit_code(result) == EXIT_VALID
    banner = "[bold green]VALID[/]" if ok else "[bold red]INVALID[/]"
    trusted = _trust_text(result.trusted, "--trust")
    when = f"{result.signing_time:%Y-%m-%d %H:%M:%S %Z}" if result.signing_time else "unknown"
    rows = [
        ("Signature", banner),
        ("Signer", escape(result.signer or "unknown")),
        ("Signed at", when + (" (timestamped)" if result.timestamped else "")),
        ("Trusted", trusted),
        ("Certification", escape(result.certification or "none (approval signature)")),
        ("Verdict", escape(result.verdict or "unknown")),
        ("Model SHA-256", escape(result.model_sha256 or "unknown")),
    ]
    if not result.reviews:
        rows.append(("Review", "none yet"))
    out.print(escape(str(report)), highlight=False)
    for label, value in rows:
        out.print(f"  {label:<14} {value}", highlight=False)
    for n, review in enumerate(result.reviews, start=1):
        when = f"{review.signing_time:%Y-%m-%d %H:%M:%S %Z}" if review.signing_time else "unknown"
        state = "[green]valid[/]" if review.valid else "[bold red]INVALID[/]"
        out.print(f"  Review {n}", highlight=False)
        for label, value in (
            ("Signature", state),
            ("Signer", escape(review.signer or "unknown")),
            ("Signed at", when),
            ("Trusted", _trust_text(review.trusted, "--trust-reviewer")),
            ("Reviewer", escape(" / ".join(v for v in (review.name, review.role) if v) or "-")),
            ("Decision", DECISION_TEXT[Decision(review.decision)] if review.decision else "none"),
            ("Notes", escape(review.notes or "-")),
        ):
            out.print(f"    {label:<12} {value}", highlight=False)
    for problem in result.problems:
        out.print(f"  [red]problem:[/] {escape(problem)}", highlight=False)
