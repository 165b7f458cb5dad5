"""The report's "Framework mapping" section: covered clauses with their evidence and status,
then the clauses the audit does not cover, in plain words; absent when no rule cites any."""

from __future__ import annotations

from audit.records import FrameworkMapping
from audit.report import render_html
from audit.report.crosswalk import framework_views
from tests.unit.report.fixtures import make_result

SIGNER = "Ada Lovelace (Model Risk)"


def test_views_split_covered_from_not_covered():
    views = {v.title: v for v in framework_views(make_result().framework_mapping)}
    assert set(views) == {"EU AI Act", "NIST AI Risk Management Framework", "ISO/IEC 42001"}
    eu = views["EU AI Act"]
    rows = {r.clause: r for r in eu.covered}
    bias = rows["Art. 10(2)(f)"]
    assert (bias.status, bias.status_cls) == ("fail", "status-fail")
    fair = {r.rule: r for r in bias.rules}["FAIR-001"]
    assert (fair.status, fair.counts) == ("fail", "2 findings: 1 fail, 1 waived")
    failed, waived = fair.flagged  # which findings those are, worst first
    assert failed.startswith("fail: ") and waived.startswith("waived: ")
    assert {r.rule: r.counts for r in bias.rules}["FAIR-004"] == "1 finding"
    assert rows["Annex IV 2(g)"].status == "this report" and not rows["Annex IV 2(g)"].rules
    assert (
        "Human oversight (Art. 14): not in scope of an automated audit. Oversight is exercised "
        "by people in deployment; no measurement of the model can show it." in eu.not_in_scope
    )
    assert "Testing against defined metrics (Art. 9(8)): no rule of this policy cites it." in (
        eu.no_rule
    )
    assert not {r.clause for r in eu.covered} & {"Art. 14", "Art. 9(8)"}


def test_section_renders_covered_and_not_covered_clauses():
    html = render_html(make_result(), signer=SIGNER)
    section = html[html.index('<section class="crosswalk">') :]
    section = section[: section.index("</section>")]
    assert "<h1>Framework mapping</h1>" in section
    assert "<strong>MEASURE 2.11</strong>" in section and "FAIR-001" in section
    assert '<span class="badge status-fail">fail</span>' in section
    assert '<span class="small flagged">fail: ' in section
    assert "Human oversight (Art. 14): not in scope of an automated audit." in section
    assert "Not covered by this policy's rules" in section
    # after the check sections, before the methodology
    assert html.index("Framework mapping") < html.index("Methodology and known limits")


def test_no_section_without_cited_frameworks():
    html = render_html(make_result(framework_mapping=FrameworkMapping()), signer=SIGNER)
    assert "Framework mapping" not in html


def test_a_clause_names_a_few_flagged_findings_and_counts_the_rest():
    from audit.records import RuleEvidence, Severity, Status
    from audit.report.crosswalk import MAX_NAMED, _rule_line

    names = tuple(f"group {i}" for i in range(MAX_NAMED + 3))
    line = _rule_line(
        RuleEvidence("R", Severity.MAJOR, {Status.FAIL: len(names)}, {Status.FAIL: names})
    )
    shown = ", ".join(names[:MAX_NAMED])
    assert line.flagged == (f"fail: {shown} and 3 more (see the findings table)",)
