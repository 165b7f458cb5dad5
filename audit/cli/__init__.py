"""The `audit` command: parse, call the library, print, and exit with the contract's code.

Only this package prints to the terminal or exits. Library errors (`AuditError`) become one
clear message and exit code 2; a traceback is shown only with `--debug`.
"""

from __future__ import annotations

import sys

import typer

from audit.cli import _console, export, history, keys, policy, review, runs, verify
from audit.errors import AuditError

app = typer.Typer(
    name="audit",
    help="Audit PyTorch models for bias, spurious features and robustness; sign the report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show Python tracebacks on errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's run logs."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress output (the verdict and paths only)."
    ),
) -> None:
    _console.settings.debug = debug
    _console.settings.verbose = verbose
    _console.settings.quiet = quiet


for module in (runs, keys, verify, review, policy, export, history):
    module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the process exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Abort:
        _console.error("aborted.")
        code = 2
    except typer.TyperException as exc:  # usage errors: typer bundles its own click
        exc.show()  # type: ignore[attr-defined]
        code = 2
    except AuditError as exc:
        if debug:
            raise
        _console.error(str(exc))
        code = exc.exit_code
    except Exception as exc:  # an unexpected failure must not look like a pass
        if debug:
            raise
        _console.error(
            f"internal error: {type(exc).__name__}: {exc}. Run again with --debug for details."
        )
        code = 2
    code = code if isinstance(code, int) else 0
    if argv is None:
        sys.exit(code)
    return code
