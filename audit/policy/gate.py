"""Release-gate outputs for CI: JUnit XML (one test case per rule and subject) and a Markdown
summary for a pull-request comment.

A waived or skipped finding is reported as `<skipped>` with its reason, never as a pass, so a
CI dashboard shows that the rule was not earned.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from audit.policy.evaluate import unjudged_blockers
from audit.presentation.plain import plural
from audit.records import AuditResult, Finding, Status, Verdict

MAX_ROWS = 50
BESIDE_FAIL = (
    "Failed, and beside the failures {findings} could not be judged "
    "(insufficient data or error); they are listed below."
)
_ORDER = (
    Status.ERROR,
    Status.INSUFFICIENT_DATA,
    Status.FAIL,
    Status.WARN,
    Status.WAIVED,
    Status.SKIPPED,
    Status.PASS,
)


def _subject(finding: Finding) -> str:
    return finding.metric.subject if finding.metric is not None else "no metric"


def _case(suite: ET.Element, finding: Finding, classname: str) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"{classname}.{finding.check}",
        name=f"{finding.rule} {finding.metric_name} [{_subject(finding)}]",
        time="0",
    )
    text = f"{finding.severity.value} {finding.status.value}: {finding.message}"
    status = finding.status
    if status == Status.FAIL:
        kind = finding.severity.value
        ET.SubElement(case, "failure", message=finding.message, type=kind).text = text
    elif status in (Status.ERROR, Status.INSUFFICIENT_DATA):
        ET.SubElement(case, "error", message=finding.message, type=status.value).text = text
    elif status in (Status.WAIVED, Status.SKIPPED):
        ET.SubElement(case, "skipped", message=f"{status.value}: {finding.message}")
    elif status == Status.WARN:
        ET.SubElement(case, "system-out").text = text


def junit_xml(result: AuditResult) -> str:
    """One `<testcase>` per finding; fail → failure, error/insufficient_data → error."""
    counts = Counter(f.status for f in result.findings)
    suite = ET.Element(
        "testsuite",
        name=f"audit {result.name} (policy {result.policy.name} {result.policy.version})",
        tests=str(len(result.findings)),
        failures=str(counts[Status.FAIL]),
        errors=str(counts[Status.ERROR] + counts[Status.INSUFFICIENT_DATA]),
        skipped=str(counts[Status.WAIVED] + counts[Status.SKIPPED]),
        timestamp=result.finished_at,
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", result.verdict.value),
        ("policy", result.policy.name),
        ("policy_version", result.policy.version),
        ("policy_sha256", result.policy.sha256),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for finding in result.findings:
        _case(suite, finding, f"audit.{result.policy.name}")
    root = ET.Element("testsuites", name="audit")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(finding: Finding) -> str:
    return "" if finding.metric is None else f"{finding.metric.value:.4g}"


def _judged(finding: Finding) -> str:
    judged = finding.judged()
    return "" if judged is None else f"{judged:.4g}"


def summary_markdown(result: AuditResult) -> str:
    """A short PR comment: verdict, counts by status, then every finding that is not a pass."""
    counts = Counter(f.status for f in result.findings)
    policy = result.policy
    lines = [
        f"### Audit `{result.name}`: **{result.verdict.value.upper()}**",
        "",
        f"Policy `{policy.name}` {policy.version} (sha256 `{policy.sha256[:12]}`), "
        f"{len(result.findings)} findings: "
        + ", ".join(f"{counts[s]} {s.value}" for s in _ORDER if counts[s]),
        "",
    ]
    unjudged = unjudged_blockers(result.findings)
    if result.verdict == Verdict.FAIL and unjudged:
        lines += [BESIDE_FAIL.format(findings=plural(len(unjudged), "blocking finding")), ""]
    shown = sorted(
        (f for f in result.findings if f.status != Status.PASS),
        key=lambda f: (_ORDER.index(f.status), -f.severity.rank, f.rule),
    )
    if not shown:
        lines.append("Every rule was evaluated and passed.")
        return "\n".join(lines) + "\n"
    lines += [
        "| status | severity | rule | subject | value | judged | threshold | message |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in shown[:MAX_ROWS]:
        threshold = "" if f.threshold is None else str(f.threshold)
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    f.status.value,
                    f.severity.value,
                    f.rule,
                    _subject(f),
                    _value(f),
                    _judged(f),
                    threshold,
                    f.message,
                )
            )
            + " |"
        )
    if len(shown) > MAX_ROWS:
        lines += ["", f"… and {len(shown) - MAX_ROWS} more; see `findings.json`."]
    return "\n".join(lines) + "\n"
