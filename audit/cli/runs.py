"""`audit run` and `audit demo`: execute the audit flow and report the verdict."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from audit import fsio, progress
from audit.cli import _console
from audit.cli._cancel import cancellable
from audit.cli.policy import FailOn
from audit.policy import exit_code
from audit.preflight import preflight
from audit.records import AuditResult, Status, Verdict

if TYPE_CHECKING:
    from audit.pipeline import Published


def _quiet_prefect() -> None:
    """Keep Prefect's console logs (and task tracebacks) off the terminal unless --verbose."""
    if _console.settings.verbose:
        return
    # Prefect attaches its console handler to the root logger when it configures logging.
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler":
            handler.setLevel(logging.CRITICAL)
    logging.getLogger("prefect._internal").setLevel(logging.CRITICAL)
    for noisy in ("pyhanko", "weasyprint", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)


def _execute(
    spec: Path,
    out: Path | None,
    policy: str | None,
    fail_on: str,
    formats: list[str],
    summary_md: Path | None,
    runner: str | None = None,
    dask_address: str | None = None,
) -> tuple[AuditResult, Published]:
    from flows.audit_flow import audit_flow

    _quiet_prefect()
    with progress.reporting(*_progress_sinks()):
        return audit_flow(
            spec_path=str(spec),
            out_dir=str(out) if out else None,
            policy=policy,
            fail_on=fail_on,
            formats=formats,
            summary_md=str(summary_md) if summary_md else None,
            runner=runner,
            dask_address=dask_address,
        )


def _progress_sinks() -> tuple[progress.Sink, ...]:
    """A live display on a terminal, timestamped lines in a log (CI), nothing with --quiet."""
    if _console.settings.quiet:
        return ()
    if _console.err.is_terminal:
        return (progress.RichSink(_console.err),)
    return (progress.LogSink(progress.stream_logger(sys.stderr)),)


def _print_outcome(result: AuditResult, published: Published) -> None:
    for note in published.notes:
        _console.err.print(note, markup=False)
    _console.out.print(_console.verdict_table(result))
    if result.verdict == Verdict.ERROR:
        # the table shows only `error`; the reason is in each finding's message
        reasons = dict.fromkeys(
            f"{f.rule}: {f.message}" for f in result.findings if f.status == Status.ERROR
        )
        for reason in reasons:
            _console.err.print(f"error: {reason}", markup=False, soft_wrap=True)
    for label, path in [
        ("report", published.report),
        ("findings", published.findings),
        ("junit", published.junit),
        *published.extra.items(),
    ]:
        _console.out.print(f"{label:>9}: {path}")


def run(
    spec: Path = typer.Argument(..., help="The audit spec (YAML)."),
    out: Path | None = typer.Option(None, "--out", help="Output folder."),
    policy: str | None = typer.Option(None, "--policy", help="Override the spec's policy."),
    fail_on: FailOn = typer.Option(
        FailOn.BLOCKER, "--fail-on", help="Lowest severity that blocks."
    ),
    fmt: list[str] = typer.Option(["pdf"], "--format", help="pdf (always) and/or html."),
    summary_md: Path | None = typer.Option(None, "--summary-md", help="Write a PR summary."),
    runner: str | None = typer.Option(None, "--runner", help="thread | dask (overrides spec)."),
    dask_address: str | None = typer.Option(
        None, "--dask-address", help="Dask scheduler (tcp://host:port); default: LocalCluster."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Allow an --out folder that already has files."
    ),
) -> int:
    """Run the audit SPEC describes; exit 0 pass, 1 policy failed, 2 incomplete."""
    if runner not in (None, "thread", "dask"):
        raise typer.BadParameter("choose thread or dask", param_hint="--runner")
    # everything knowable, before Prefect starts
    loaded_spec = preflight(spec, policy=policy, out=out)
    # claimed before Prefect starts: a busy, full or unwritable folder costs no server start;
    # without --out, a new folder per run (docs/ci.md, outputs)
    from audit.pipeline import default_out_dir  # here: the pipeline imports torch

    target = out if out is not None else default_out_dir(loaded_spec.name)
    with fsio.claim_out_dir(target, overwrite=overwrite) as claim, cancellable(claim):
        result, published = _execute(
            spec,
            target,
            policy,
            fail_on.value,
            fmt,
            summary_md,
            runner=runner,
            dask_address=dask_address,
        )
    _print_outcome(result, published)
    return exit_code(result.verdict)


def demo(
    case: str = typer.Option("tabular", "--case", help="tabular | image | text"),
    out: Path = typer.Option(Path("audit-demo"), "--out", help="Output folder."),
) -> int:
    """Audit a bundled demo model on real data; exit 0 once the signed report exists."""
    from audit.demo import CASES, build_demo

    if case not in CASES:
        raise typer.BadParameter(f"choose one of {', '.join(CASES)}", param_hint="--case")
    with _console.err.status(f"Preparing the {case} demo (trains once, then cached)..."):
        spec = build_demo(case)
    # the demo folder is reused on purpose: each demo replaces the last one's report
    with fsio.claim_out_dir(out, overwrite=True) as claim, cancellable(claim):
        result, published = _execute(spec, out, None, "blocker", ["pdf"], None)
    _print_outcome(result, published)
    return 0


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)
