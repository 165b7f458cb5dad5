"""`audit keys init [DIR]`: make the signing key and its self-signed certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from audit.errors import AuditError


def register(app: typer.Typer) -> None:
    """Add the `keys` command group to the root app."""
    keys_app = typer.Typer(help="Manage the key that signs reports.", no_args_is_help=True)
    keys_app.command("init")(init_command)
    app.add_typer(keys_app, name="keys")


def init_command(
    folder: Annotated[
        Path | None,
        typer.Argument(help="Folder for signer.key and signer.pem (default: user config folder)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key.")] = False,
    common_name: Annotated[
        str, typer.Option("--common-name", help="Signer name shown in viewers and on the cover.")
    ] = "Audit report signer",
    days: Annotated[int, typer.Option(min=1, help="Certificate validity in days.")] = 825,
) -> None:
    """Create a signing key (mode 0600) and a self-signed certificate for it."""
    # imported here, not at the top: every command would otherwise pay for pyHanko
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from audit.signing.keys import KEY_FILE, default_key_dir, init_keys, key_file_warning

    out, err = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)
    folder = folder if folder is not None else default_key_dir()
    existing = folder / KEY_FILE
    if existing.exists() and (warning := key_file_warning(existing)):
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    try:
        key_path, cert_path = init_keys(folder, common_name=common_name, days=days, overwrite=force)
    except AuditError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    out.print(f"Created signing key   {escape(str(key_path))} (mode 0600)", highlight=False)
    out.print(f"Created certificate   {escape(str(cert_path))}", highlight=False)
    out.print(f"Valid until           {cert.not_valid_after_utc:%Y-%m-%d}", highlight=False)
    out.print(f"SHA-256 fingerprint   {fingerprint}", highlight=False)
    out.print(
        "Share the certificate with reviewers; they check reports with "
        f"`audit verify REPORT.pdf --trust {escape(str(cert_path))}`.",
        highlight=False,
    )
