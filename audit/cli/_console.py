"""Terminal output shared by the CLI commands (rich), and the CLI's global settings."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from audit.records import AuditResult, Status

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.WARN: "yellow",
    Status.INSUFFICIENT_DATA: "magenta",
    Status.ERROR: "bold red",
    Status.WAIVED: "cyan",
    Status.SKIPPED: "dim",
}


@dataclass
class Settings:
    debug: bool = False
    verbose: bool = False


settings = Settings()


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def verdict_table(result: AuditResult) -> Table:
    table = Table(title=f"Audit {result.name}: verdict {result.verdict.value.upper()}")
    for col in ("rule", "subject", "value", "judged", "threshold", "severity", "status"):
        table.add_column(col)
    for f in result.findings:
        value = "" if f.metric is None else f"{f.metric.value:.3g}"
        judged = f.judged()
        subject = f.metric.subject if f.metric else ""
        style = _STYLE[f.status]
        table.add_row(
            escape(f.rule),
            escape(subject),
            value,
            "" if judged is None else f"{judged:.3g}",
            str(f.threshold) if f.threshold else "",
            f.severity.value,
            f"[{style}]{f.status.value}[/]",
        )
    return table
