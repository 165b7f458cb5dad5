"""`controls:` on policy rules, the framework catalogue, and the crosswalk built from them.

Unknown frameworks and clauses are refused with a position; every shipped pack maps every
rule; the mapping counts each rule's findings per clause and lists, for each cited framework,
the clauses no rule covers and those no automated audit can.
"""

from __future__ import annotations

import datetime
import json

import pytest
from policy_helpers import metric, rule_yaml

from audit.errors import PolicyError, ReportError
from audit.policy import POLICIES_DIR, judge, lint, load_policy, shipped_policies
from audit.policy.crosswalk import framework_mapping
from audit.policy.frameworks import catalogue, framework_ids
from audit.policy.load import parse_file
from audit.records import AuditResult, Control, Status
from audit.report.readback import result_from_findings
from tests.unit.report.fixtures import make_result

TODAY = datetime.date(2026, 6, 1)
FAIR = (
    '[{framework: eu-ai-act, clause: "Art. 10(2)(f)"}, '
    '{framework: nist-ai-rmf, clause: "MEASURE 2.11"}]'
)


def test_catalogue_has_the_frameworks_and_clauses_the_packs_cite():
    assert set(framework_ids()) == {"eu-ai-act", "nist-ai-rmf", "iso-42001", "nyc-ll144"}
    cat = catalogue()
    eu, nist, iso, ll = (cat.get(i) for i in framework_ids())
    assert eu is not None and nist is not None and iso is not None and ll is not None
    for clause in ("Art. 10(2)(f)", "Art. 10(2)(g)", "Art. 13(3)(b)(iv)", "Art. 15(4)"):
        assert eu.get(clause) is not None and eu.get(clause).scope == "rules"
    assert eu.get("Annex IV 2(g)").scope == "report"
    assert eu.get("Art. 14").scope == "not_in_scope" and "people" in eu.get("Art. 14").note
    assert {c.clause for c in nist.clauses} >= {
        "MEASURE 2.3", "MEASURE 2.5", "MEASURE 2.7", "MEASURE 2.9", "MEASURE 2.11", "MEASURE 3.1"
    }  # fmt: skip
    assert iso.get("A.6.2.4") is not None
    assert {"§ 5-301(b)(1)", "§ 5-301(b)(2)", "§ 5-301(b)(5)", "§ 5-301(d)"} <= {
        c.clause for c in ll.clauses
    }
    # short summaries in our own words, not quotations
    assert all(len(c.asks) <= 200 for fw in cat.frameworks for c in fw.clauses)


def test_rule_controls_are_parsed_into_findings(make_policy):
    policy = make_policy(rule_yaml(controls=FAIR))
    (rule,) = policy.rules
    assert [(c.framework, c.clause) for c in rule.controls] == [
        ("eu-ai-act", "Art. 10(2)(f)"),
        ("nist-ai-rmf", "MEASURE 2.11"),
    ]
    findings, _ = judge(policy, [metric()], (), today=TODAY)
    (finding,) = findings
    assert finding.controls == (
        Control("eu-ai-act", "Art. 10(2)(f)"),
        Control("nist-ai-rmf", "MEASURE 2.11"),
    )
    assert finding.to_json()["controls"] == [
        {"framework": "eu-ai-act", "clause": "Art. 10(2)(f)"},
        {"framework": "nist-ai-rmf", "clause": "MEASURE 2.11"},
    ]


@pytest.mark.parametrize(
    ("control", "key", "fragment"),
    [
        ('{framework: eu-ai-actt, clause: "Art. 10(2)(f)"}', "framework", "should be 'eu-ai-act'"),
        ('{framework: eu-ai-act, clause: "Art. 99"}', "clause", "has no clause 'Art. 99'"),
        ('{framework: nyc-ll144, clause: "§ 5-303"}', "clause", "not in scope of an automated"),
    ],
)
def test_unknown_framework_or_clause_is_refused_with_file_line_col(
    write_policy, control, key, fragment
):
    path = write_policy(rule_yaml(controls=f"[{control}]"))
    lines = path.read_text(encoding="utf-8").splitlines()
    line = next(i for i, t in enumerate(lines, 1) if control in t)
    # like every policy error, the position is the offending field's key
    col = lines[line - 1].index(control) + control.index(f"{key}:") + 1
    (problem,) = lint(path, today=TODAY)
    assert problem.startswith(f"{path}:{line}:{col}: "), problem
    assert fragment in problem
    with pytest.raises(PolicyError, match="controls"):
        load_policy(path)


def test_a_control_listed_twice_is_refused(write_policy):
    twice = "[" + ", ".join(['{framework: eu-ai-act, clause: "Art. 15(4)"}'] * 2) + "]"
    (problem,) = lint(write_policy(rule_yaml(controls=twice)), today=TODAY)
    assert "a control is listed twice: eu-ai-act Art. 15(4)" in problem


@pytest.mark.parametrize("name", shipped_policies())
def test_every_rule_of_every_shipped_pack_carries_controls(name):
    parsed = parse_file(POLICIES_DIR / f"{name}.yaml")
    assert parsed.model is not None, parsed.problems
    bare = [r.id for r in parsed.model.rules if not r.controls]
    assert not bare, f"{name}: rules without `controls`: {bare}"
    assert lint(POLICIES_DIR / f"{name}.yaml", today=TODAY) == []


def test_eu_pack_states_the_amended_application_dates():
    text = (POLICIES_DIR / "eu-ai-act-high-risk.yaml").read_text(encoding="utf-8")
    policy = load_policy("eu-ai-act-high-risk")
    assert "2 December 2027" in text and "2 August 2028" in text
    assert (
        "2 Dec 2027 (Annex III" in policy.description
        and "2 Aug 2028 (Annex I)" in policy.description
    )


def test_mapping_counts_findings_and_lists_what_is_not_covered(make_policy):
    rules = rule_yaml("R-1", controls=FAIR) + rule_yaml(
        "R-2",
        metric="equalized_odds_difference",
        threshold='{op: "<=", value: 0.1}',
        controls='[{framework: eu-ai-act, clause: "Art. 10(2)(f)"}]',
    )
    policy = make_policy(rules)
    metrics = [
        metric(value=0.95, feature="sex"),
        metric(value=0.5, feature="race"),
        metric("equalized_odds_difference", 0.02, feature="sex"),
    ]
    findings, _ = judge(policy, metrics, (), today=TODAY)
    mapping = framework_mapping(policy.rules, findings)
    assert [f.framework for f in mapping.frameworks] == ["eu-ai-act", "nist-ai-rmf"]
    eu = mapping.frameworks[0]
    by_clause = {c.clause: c for c in eu.clauses}
    bias = by_clause["Art. 10(2)(f)"]
    assert bias.coverage == "evidence" and bias.status == Status.FAIL
    assert [(r.rule, dict(r.statuses)) for r in bias.rules] == [
        ("R-1", {Status.PASS: 1, Status.FAIL: 1}),
        ("R-2", {Status.PASS: 1}),
    ]
    # the failing finding is named by its subject; passing ones are only counted
    assert [dict(r.flagged) for r in bias.rules] == [{Status.FAIL: ("race",)}, {}]
    assert by_clause["Art. 14"].coverage == "not_in_scope"
    assert by_clause["Art. 15(4)"].coverage == "no_rule" and not by_clause["Art. 15(4)"].rules
    assert by_clause["Annex IV 2(g)"].coverage == "report"
    # every catalogued clause of a cited framework is listed, in the catalogue's order
    assert [c.clause for c in eu.clauses] == [
        c.clause for c in catalogue().get("eu-ai-act").clauses
    ]


def test_findings_json_carries_the_mapping_and_round_trips():
    result = make_result()
    doc = json.loads(json.dumps(result.findings_json()))
    mapping = doc["framework_mapping"]
    assert mapping["catalogue_version"] == catalogue().version
    eu = next(f for f in mapping["frameworks"] if f["framework"] == "eu-ai-act")
    oversight = next(c for c in eu["clauses"] if c["clause"] == "Art. 14")
    assert oversight["coverage"] == "not_in_scope" and oversight["rules"] == []
    bias = next(c for c in eu["clauses"] if c["clause"] == "Art. 10(2)(f)")
    assert bias["status"] == "fail"
    fair = next(r for r in bias["rules"] if r["rule"] == "FAIR-001")
    assert fair["status"] == "fail" and fair["findings"] == {"fail": 1, "waived": 1}
    assert set(fair["flagged"]) == {"fail", "waived"}
    back = AuditResult.from_findings_json(doc)
    assert back.framework_mapping == result.framework_mapping
    assert back.findings_json() == result.findings_json()


def test_finding_controls_round_trip(make_policy):
    findings, _ = judge(make_policy(rule_yaml(controls=FAIR)), [metric()], (), today=TODAY)
    result = make_result(findings=tuple(findings))
    back = AuditResult.from_findings_json(json.loads(json.dumps(result.findings_json())))
    assert back.findings[0].controls == findings[0].controls


@pytest.mark.parametrize(
    "broken",
    [
        {"framework_mapping": []},
        {"framework_mapping": {"frameworks": {}}},
        {"framework_mapping": {"frameworks": [{"framework": "x", "title": "", "citation": ""}]}},
        {"framework_mapping": {"frameworks": [{"framework": "x", "title": "t", "citation": "c",
                                               "clauses": [{"clause": "a", "title": "t",
                                                            "asks": "a", "coverage": "maybe"}]}]}},
    ],
)  # fmt: skip
def test_a_malformed_mapping_is_a_clear_error(broken):
    doc = {**json.loads(json.dumps(make_result().findings_json())), **broken}
    with pytest.raises(ReportError, match="findings"):
        result_from_findings(doc)
