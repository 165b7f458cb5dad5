"""`audit policy lint|schema` and `audit judge`: the policy side of the command line.

Thin: parse arguments, call `audit.policy`, print, exit. Exit codes follow
docs/contract.md, section 1 (lint: 0 valid / 2 invalid; judge: 0 pass / 1 fail / 2 error).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from audit.errors import AuditError, PolicyError
from audit.fsio import write_atomic
from audit.policy import (
    deprecations,
    exit_code,
    json_schema,
    judge,
    junit_xml,
    lint,
    load_policy,
    summary_markdown,
)
from audit.records import AuditResult, UnreadableSchema, first_error
from audit.yamlio import YamlSyntaxError, load_json

BAD_FINDINGS = "not a findings.json document: {problem}"
BAD_FINDINGS_FIX = "pass the findings.json an `audit run` wrote."


class FailOn(StrEnum):
    WARN = "warn"
    MINOR = "minor"
    MAJOR = "major"
    BLOCKER = "blocker"


def _fail(exc: AuditError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


def _read_findings(path: Path) -> dict[str, Any]:
    try:
        doc = load_json(path)
    except OSError as exc:
        msg = f"cannot read: {exc.strerror}."
        raise PolicyError(msg, where=str(path), fix="check the path.") from None
    except YamlSyntaxError as exc:
        where = f"{path}:{exc.line}:{exc.col}" if exc.line else str(path)
        problem = BAD_FINDINGS.format(problem=exc)
        raise PolicyError(problem, where=where, fix=BAD_FINDINGS_FIX) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), list):
        problem = BAD_FINDINGS.format(problem="no `metrics` list")
        raise PolicyError(problem, where=str(path), fix=BAD_FINDINGS_FIX)
    return doc


def _stored(doc: dict[str, Any], path: Path) -> AuditResult:
    """The stored audit; anything malformed is an error, not a skip."""
    try:
        return AuditResult.from_findings_json(doc)
    except UnreadableSchema as exc:
        fix = "judge it with the audit version its provenance.versions names."
        raise PolicyError(str(exc), where=str(path), fix=fix) from None
    except ValidationError as exc:
        problem = BAD_FINDINGS.format(problem=first_error(exc))
        raise PolicyError(problem, where=str(path), fix=BAD_FINDINGS_FIX) from None
    except KeyError as exc:
        problem = BAD_FINDINGS.format(problem=f"missing key {exc.args[0]!r}")
        raise PolicyError(problem, where=str(path), fix=BAD_FINDINGS_FIX) from None
    except (TypeError, ValueError) as exc:  # a version-1 document's shape, read before validation
        problem = BAD_FINDINGS.format(problem=exc)
        raise PolicyError(problem, where=str(path), fix=BAD_FINDINGS_FIX) from None


def lint_command(
    file: Annotated[Path, typer.Argument(help="The policy YAML file to check.")],
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on deprecated names too, not only on problems.")
    ] = False,
) -> None:
    """Validate a policy file; print `file:line:col: message` per problem.

    Deprecated names that still load are printed as warnings and do not fail, unless `--strict`.
    """
    problems = lint(file, today=datetime.date.today())
    warnings = deprecations(file)
    for line in problems + warnings:
        typer.echo(line)
    if problems or (strict and warnings):
        raise typer.Exit(2)
    typer.echo(f"{file}: ok" + (f" ({len(warnings)} deprecated, see above)" if warnings else ""))


def schema_command() -> None:
    """Print the policy JSON Schema (the content of `policies/schema.json`)."""
    typer.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


def judge_command(
    findings: Annotated[Path, typer.Argument(help="A findings.json from an earlier run.")],
    policy: Annotated[str, typer.Option("--policy", help="Policy file or shipped name.")],
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    summary_md: Annotated[
        Path | None, typer.Option("--summary-md", help="Write a Markdown summary here.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the re-judged findings.json here.")
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Lowest severity that blocks; warn blocks warns.")
    ] = FailOn.BLOCKER,
) -> None:
    """Re-judge stored metrics under another policy, without re-running the model."""
    try:
        doc = _read_findings(findings)
        pol = load_policy(policy)
        stored = _stored(doc, findings)
        today = datetime.date.today()
        found, verdict = judge(
            pol, stored.metrics, stored.check_runs, today=today, fail_on=fail_on.value
        )
        result = dataclasses.replace(
            stored,
            verdict=verdict,
            policy=pol.info(),
            provenance=dataclasses.replace(stored.provenance, policy_sha256=pol.sha256),
            findings=found,
        )
        if junit is not None:
            write_atomic(junit, junit_xml(result))
        if summary_md is not None:
            write_atomic(summary_md, summary_markdown(result))
        if out is not None:
            write_atomic(out, json.dumps(result.findings_json(), indent=2) + "\n")
    except AuditError as exc:
        raise _fail(exc) from None
    for f in found:
        typer.echo(f"{f.status.value:<17} {f.severity.value:<7} {f.rule:<12} {f.message}")
    typer.echo(f"verdict: {verdict.value} (policy {pol.name} {pol.version}, fail-on {fail_on})")
    raise typer.Exit(exit_code(verdict))


def register(app: typer.Typer) -> None:
    """Add `audit policy lint`, `audit policy schema` and `audit judge` to `app`."""
    policy_app = typer.Typer(help="Work with policy files.", no_args_is_help=True)
    policy_app.command("lint")(lint_command)
    policy_app.command("schema")(schema_command)
    app.add_typer(policy_app, name="policy")
    app.command("judge")(judge_command)
