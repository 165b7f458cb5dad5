"""Gate outputs: JUnit shows every rule and subject, and a waiver never reads as a pass."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from audit.policy import junit_xml, summary_markdown
from audit.policy.gate import MAX_ROWS
from audit.records import (
    AuditResult,
    Finding,
    Metric,
    PolicyInfo,
    Provenance,
    Severity,
    Status,
    Threshold,
    Verdict,
    Waiver,
)

THRESHOLD = Threshold(">=", 0.8, warn=0.9)


def _finding(status: Status, group: str, message: str = "msg") -> Finding:
    m = Metric("bias", "impact_ratio", 0.75, feature="race", group=group, n=100)
    waiver = (
        Waiver("FAIR-003", "known", "J. Doe", "2027-01-31") if status == Status.WAIVED else None
    )
    return Finding(
        "FAIR-003",
        "bias",
        "impact_ratio",
        status,
        Severity.BLOCKER,
        THRESHOLD,
        message,
        m,
        waiver=waiver,
    )


def _result(findings, verdict=Verdict.ERROR) -> AuditResult:
    return AuditResult(
        name="credit",
        started_at="2026-06-01T00:00:00Z",
        finished_at="2026-06-01T00:01:00Z",
        verdict=verdict,
        policy=PolicyInfo("strict", "1.0.0", "ab" * 32),
        provenance=Provenance("m", "d", "s", "ab" * 32, 0, {}),
        metrics=tuple(f.metric for f in findings if f.metric is not None),
        findings=tuple(findings),
    )


ALL = [_finding(s, f"g{i}", f"message {s.value} <&>") for i, s in enumerate(Status)]


def _cases(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    return {c.get("name"): c for c in root.iter("testcase")}


def test_one_testcase_per_rule_and_subject():
    cases = _cases(junit_xml(_result(ALL)))
    assert len(cases) == len(Status)
    assert "FAIR-003 impact_ratio [race=g0]" in cases


@pytest.mark.parametrize(
    ("status", "child"),
    [
        (Status.PASS, None),
        (Status.WARN, "system-out"),
        (Status.FAIL, "failure"),
        (Status.ERROR, "error"),
        (Status.INSUFFICIENT_DATA, "error"),
        (Status.SKIPPED, "skipped"),
        (Status.WAIVED, "skipped"),
    ],
)
def test_status_maps_to_junit_element(status, child):
    (case,) = _cases(junit_xml(_result([_finding(status, "A")]))).values()
    kids = [k.tag for k in case]
    assert kids == ([child] if child else [])


def test_waived_shows_as_skipped_with_reason():
    xml = junit_xml(_result([_finding(Status.WAIVED, "A", "waived by J. Doe")]))
    (case,) = _cases(xml).values()
    assert case.find("skipped").get("message") == "waived: waived by J. Doe"


def test_suite_counts_and_properties():
    suite = ET.fromstring(junit_xml(_result(ALL))).find("testsuite")
    assert suite.get("tests") == str(len(Status))
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "2", "2")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict"] == "error" and props["policy"] == "strict"


def test_messages_are_escaped():
    xml = junit_xml(_result([_finding(Status.FAIL, "A", 'bad <tag> & "quote"')]))
    (case,) = _cases(xml).values()
    assert case.find("failure").get("message") == 'bad <tag> & "quote"'


def test_finding_without_metric_or_threshold():
    f = Finding("CHECK-BIAS", "bias", "(check run)", Status.ERROR, Severity.BLOCKER, None, "boom")
    assert "CHECK-BIAS (check run) [no metric]" in _cases(junit_xml(_result([f])))
    assert "| error | blocker | CHECK-BIAS | no metric |  |  |  | boom |" in summary_markdown(
        _result([f])
    )


def test_summary_lists_what_did_not_pass_worst_first():
    md = summary_markdown(_result(ALL))
    assert md.startswith("### Audit `credit`: **ERROR**")
    assert "1 error, 1 insufficient_data, 1 fail, 1 warn, 1 waived, 1 skipped, 1 pass" in md
    rows = [line for line in md.splitlines() if line.startswith("| ")][1:]  # after the header
    statuses = [r.split(" | ")[0].removeprefix("| ") for r in rows]
    assert statuses == ["error", "insufficient_data", "fail", "warn", "waived", "skipped"]
    assert "message fail <&>" in md and ">= 0.8 (warn beyond 0.9)" in md


def test_summary_of_a_clean_pass():
    md = summary_markdown(_result([_finding(Status.PASS, "A")], Verdict.PASS))
    assert "**PASS**" in md and "Every rule was evaluated and passed." in md


def test_summary_escapes_pipes_and_truncates():
    many = [_finding(Status.FAIL, f"g{i}", "a | b") for i in range(MAX_ROWS + 3)]
    md = summary_markdown(_result(many))
    assert "a \\| b" in md and "… and 3 more" in md
