"""Terminal output shared by the CLI commands (rich), and the CLI's global settings."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from audit.records import AuditResult, Status

# Not on a terminal (a CI log), rich would wrap tables at 80 columns; a log has room.
_LOG_WIDTH = 120
out = Console(highlight=False, width=None if sys.stdout.isatty() else _LOG_WIDTH)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else _LOG_WIDTH)

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
    quiet: bool = False


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
        if f.metric is not None and judged == f.metric.value:
            judged = None  # the rule judged the value itself: said once, in `value`
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
