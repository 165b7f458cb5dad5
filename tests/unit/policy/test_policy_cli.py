"""`audit policy lint|schema` and `audit judge` through typer's CliRunner."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
import typer
from typer.testing import CliRunner

from audit.cli.policy import register
from audit.policy import POLICIES_DIR, json_schema

BROKEN = POLICIES_DIR.parent / "tests" / "policies_broken" / "08-unknown-metric.yaml"
# `default` with spurious and robustness released: the findings below switched them off
QUICK = POLICIES_DIR.parent / "tests" / "policies" / "quick-checks.yaml"


@pytest.fixture
def run():
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_lint_ok(run):
    result = run("policy", "lint", POLICIES_DIR / "default.yaml")
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("default.yaml: ok")


def test_lint_broken_prints_file_line_col_and_exits_2(run):
    result = run("policy", "lint", BROKEN)
    assert result.exit_code == 2
    assert result.stdout.startswith(f"{BROKEN}:7:5: rule FAIR-001: unknown metric")


def test_lint_warns_about_a_deprecated_name_and_fails_on_it_only_when_strict(run, tmp_path):
    """An old policy's CI lint keeps passing while its audits run; `--strict` makes it fail."""
    old = (POLICIES_DIR / "default.yaml").read_text(encoding="utf-8")
    assert "subject: {level: 2}" in old
    path = tmp_path / "old.yaml"
    old = old.replace("subject: {level: 2}", "subject: {severity: 2}", 1)
    path.write_text(old, encoding="utf-8")
    result = run("policy", "lint", path)
    assert result.exit_code == 0, result.output
    warning, ok = result.stdout.strip().splitlines()
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: warning: rule \S+: subject key", warning)
    assert ok == f"{path}: ok (1 deprecated, see above)"
    strict = run("policy", "lint", "--strict", path)
    assert strict.exit_code == 2 and strict.stdout.strip() == warning


def test_schema_prints_the_shipped_schema(run):
    result = run("policy", "schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json_schema()


def _findings_json(tmp_path, dpr: float, n: int = 100, checks=None) -> str:
    doc = {
        "schema_version": 1,  # a file from before version 2: still read
        "audit": {"name": "credit", "started_at": "t0", "finished_at": "t1"},
        "verdict": "pass",
        "policy": {"name": "old", "version": "0", "sha256": "x"},
        "provenance": {"model_sha256": "m", "data_sha256": "d", "spec_sha256": "s", "seed": 3},
        "checks": checks if checks is not None else [
            {"check": "bias", "state": "ran"}, {"check": "performance", "state": "ran"},
            {"check": "spurious", "state": "skipped"}, {"check": "robustness", "state": "skipped"},
            {"check": "identity_terms", "state": "skipped"},
            {"check": "circuits", "state": "skipped"},
        ],
        "metrics": [
            {"check": "bias", "name": "demographic_parity_ratio", "feature": "sex",
             "value": dpr, "n": n},
            {"check": "bias", "name": "equalized_odds_difference", "feature": "sex",
             "value": 0.01, "n": n},
            {"check": "performance", "name": "expected_calibration_error", "value": 0.01},
        ],
        "findings": [],
    }  # fmt: skip
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("dpr", "n", "code", "verdict"),
    [(0.95, 100, 0, "pass"), (0.5, 100, 1, "fail"), (0.95, 5, 2, "error")],
)
def test_judge_exit_code_follows_the_verdict(run, tmp_path, dpr, n, code, verdict):
    result = run("judge", _findings_json(tmp_path, dpr, n), "--policy", QUICK)
    assert result.exit_code == code, result.output
    assert f"verdict: {verdict} (policy quick-checks 1.0.0, fail-on blocker)" in result.stdout


def test_judge_writes_junit_summary_and_findings(run, tmp_path):
    junit, md, out = tmp_path / "junit.xml", tmp_path / "summary.md", tmp_path / "re.json"
    result = run(
        "judge", _findings_json(tmp_path, 0.5), "--policy", QUICK,
        "--junit", junit, "--summary-md", md, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 1
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "1"
    assert "**FAIL**" in md.read_text(encoding="utf-8")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["verdict"] == "fail" and doc["policy"]["name"] == "quick-checks"
    assert doc["provenance"]["seed"] == 3 and len(doc["metrics"]) == 3
    assert doc["schema_version"] == 2  # read as version 1, written as the current version


def test_judge_refuses_a_findings_file_of_an_unknown_version(run, tmp_path):
    path = _findings_json(tmp_path, 0.95)
    doc = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**doc, "schema_version": 3}), encoding="utf-8")
    result = run("judge", path, "--policy", QUICK)
    assert result.exit_code == 2
    assert "schema_version 3 is not one this audit reads (it reads 1 or 2)" in result.stderr


def test_judge_under_a_stricter_policy_without_rerunning(run, tmp_path):
    findings = _findings_json(tmp_path, 0.95)
    assert run("judge", findings, "--policy", QUICK).exit_code == 0
    # default and strict require every check; spurious and robustness never ran
    assert run("judge", findings, "--policy", "default").exit_code == 2
    assert run("judge", findings, "--policy", "release-gate-strict").exit_code == 2


@pytest.mark.parametrize(("fail_on", "code"), [("blocker", 0), ("warn", 1)])
def test_judge_fail_on(run, tmp_path, fail_on, code):
    findings = _findings_json(tmp_path, 0.85)  # a warn on a blocker rule
    assert run("judge", findings, "--policy", QUICK, "--fail-on", fail_on).exit_code == code


def test_judge_with_a_policy_path(run, tmp_path):
    findings = _findings_json(tmp_path, 0.95)
    result = run("judge", findings, "--policy", POLICIES_DIR / "four-fifths.yaml")
    assert result.exit_code == 2  # four-fifths needs impact ratios, which were not measured
    assert "matched no metric" in result.stdout


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"metrics": [{"check": "bias"}]}', '{"metrics": [], "checks": [1]}',
     '{"metrics": [], "checks": [{"check": "bias", "state": "crashed"}]}'],
)  # fmt: skip
def test_judge_refuses_a_malformed_findings_file(run, tmp_path, content):
    path = tmp_path / "findings.json"
    path.write_text(content, encoding="utf-8")
    result = run("judge", path, "--policy", "default")
    assert result.exit_code == 2
    assert "not a findings.json document" in result.stderr


def test_judge_bad_policy_name_exits_2(run, tmp_path):
    result = run("judge", _findings_json(tmp_path, 0.9), "--policy", "../etc/passwd")
    assert result.exit_code == 2 and "error:" in result.stderr
