"""`audit export model-card`: a Markdown model card from a finished audit.

The input is the `findings.json` an audit wrote, or its report PDF (the embedded
`findings.json` and `spec.yaml` are read; the signature is not checked here, `audit verify`
does that). Errors are `AuditError`s, which the `audit` entry point turns into exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.fsio import write_atomic

UNVERIFIED_NOTE = (
    "note: the PDF's signature was not checked; run `audit verify` on it before relying on it."
)

export_app = typer.Typer(
    name="export",
    help="Export a finished audit in other formats.",
    no_args_is_help=True,
)


@export_app.command("model-card")
def export_model_card(
    source: Annotated[
        Path,
        typer.Argument(help="findings.json written by `audit run`, or the report PDF with it."),
    ],
    spec: Annotated[
        Path | None, typer.Option("--spec", help="The audit spec, if the source lacks it.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the card here (default: print it).")
    ] = None,
) -> None:
    """Write a Markdown model card built from the audit's findings."""
    # imported here, not at the top: every command would otherwise pay for WeasyPrint
    from audit.report.model_card import model_card
    from audit.report.readback import load_result

    result = load_result(source, spec=spec)
    text = model_card(result)
    if source.suffix.lower() == ".pdf":
        typer.echo(UNVERIFIED_NOTE, err=True)
    if out is None:
        typer.echo(text, nl=False)
        return
    write_atomic(out, text)
    typer.echo(f"model card written to {out}")


def register(app: typer.Typer) -> None:
    """Add the `export` command group to the `audit` app."""
    app.add_typer(export_app, name="export")
