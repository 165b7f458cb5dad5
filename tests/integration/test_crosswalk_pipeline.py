"""End to end through `run_audit`: the findings.json a real audit publishes carries each
finding's controls and the framework mapping, and reads back into the same `AuditResult`."""

from __future__ import annotations

import json
from pathlib import Path

from hostile.hostile_builders import audit_inputs

from audit.pipeline import run_audit
from audit.records import AuditResult
from audit.signing import init_keys


def test_published_findings_json_carries_the_mapping(tmp_path: Path) -> None:
    init_keys(tmp_path / "keys")

    def ll144(spec: dict) -> None:
        spec["policy"] = "nyc-ll144"

    spec = audit_inputs(tmp_path / "in", tmp_path / "keys", patch=ll144)
    _, published = run_audit(
        spec, tmp_path / "out", ledger_url=f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    )
    doc = json.loads(published.findings.read_text(encoding="utf-8"))
    rules = [f for f in doc["findings"] if f["rule"].startswith("LL144-")]
    assert rules and all(f["controls"] for f in rules)
    assert all(c["framework"] == "nyc-ll144" for f in rules for c in f["controls"])
    (ll,) = doc["framework_mapping"]["frameworks"]
    clauses = {c["clause"]: c for c in ll["clauses"]}
    assert clauses["§ 5-301(b)(5)"]["rules"][0]["rule"] == "LL144-004"
    assert clauses["§ 5-301(b)(5)"]["coverage"] == "evidence"
    assert clauses["§ 5-303"]["coverage"] == "not_in_scope"
    counted = sum(
        n for c in ll["clauses"] if c["clause"] == "§ 5-301(b)(1)"
        for r in c["rules"] for n in r["findings"].values()
    )  # fmt: skip
    assert counted == sum(1 for f in rules if f["rule"] == "LL144-001")
    back = AuditResult.from_findings_json(doc)
    assert back.findings_json() == doc
