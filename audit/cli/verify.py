"""`audit verify REPORT.pdf [--trust CERT.pem] [--json]`: exit 0 valid, 1 invalid, 2 unreadable."""

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
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Check a report's signature, that it is unmodified, and that its findings.json matches."""
    # pyHanko logs expected validation failures (e.g. self-signed, untrusted) with tracebacks.
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    from audit.signing.verify import verify_pdf

    try:
        result = verify_pdf(report, trust=trust)
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
    """0 only when the signature is valid and, if a trust anchor was given, trusted."""
    return EXIT_VALID if result.valid and result.trusted is not False else EXIT_INVALID


def _print(result: VerificationReport, report: Path) -> None:
    out = Console(soft_wrap=True)
    ok = exit_code(result) == EXIT_VALID
    banner = "[bold green]VALID[/]" if ok else "[bold red]INVALID[/]"
    if result.trusted is None:
        trusted = "not checked (pass --trust CERT.pem)"
    else:
        trusted = "yes" if result.trusted else "NO"
    when = f"{result.signing_time:%Y-%m-%d %H:%M:%S %Z}" if result.signing_time else "unknown"
    rows = [
        ("Signature", banner),
        ("Signer", escape(result.signer or "unknown")),
        ("Signed at", when + (" (timestamped)" if result.timestamped else "")),
        ("Trusted", trusted),
        ("Verdict", escape(result.verdict or "unknown")),
        ("Model SHA-256", escape(result.model_sha256 or "unknown")),
    ]
    out.print(escape(str(report)), highlight=False)
    for label, value in rows:
        out.print(f"  {label:<14} {value}", highlight=False)
    for problem in result.problems:
        out.print(f"  [red]problem:[/] {escape(problem)}", highlight=False)
