"""findings.json as audits wrote it before schema version 2, made from a version 2 document.

Written out here, independently of `audit.records`, so that the tests of the version-1 reader
do not check the reader against itself.
"""

from __future__ import annotations

from typing import Any


def _renamed(record: dict[str, Any], old: str) -> dict[str, Any]:
    """`record` with its top-level `level` key named `old` (nested objects keep theirs: an
    `adjustment`'s `level` is a confidence level, in both versions)."""
    return {(old if key == "level" else key): value for key, value in record.items()}


def as_version_1(doc: dict[str, Any]) -> dict[str, Any]:
    """The version 1 shape of a version 2 findings.json: the perturbation level is `severity`
    on a metric and a waiver, and `metric_severity` on a finding (its `severity` is the rule's)."""
    findings = []
    for finding in doc["findings"]:
        old = _renamed(finding, "metric_severity")
        if "waiver" in old:
            old["waiver"] = _renamed(old["waiver"], "severity")
        findings.append(old)
    metrics = [_renamed(m, "severity") for m in doc["metrics"]]
    return {**doc, "schema_version": 1, "metrics": metrics, "findings": findings}
