"""The rendered HTML: golden output, escaping of hostile names, self-containment."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.checks.bias.evidence import BiasEvidence
from audit.checks.robustness.evidence import Flip, RobustnessEvidence
from audit.records import CheckRun, Metric
from audit.report import audit_id, render_html
from tests.unit.report.fixtures import (
    EMOJI_NAME,
    HTML_NAME,
    LATEX_NAME,
    LONG_NAME,
    RTL_NAME,
    TABULAR_ROBUSTNESS,
    make_result,
)

GOLDEN = Path(__file__).parent / "golden" / "report.html"
SIGNER = "Ada Lovelace (Model Risk)"
DATA_URI = re.compile(r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]+")
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "section", "p", "h1", "h2", "table",
    "caption", "thead", "tbody", "tr", "th", "td", "bdi", "span", "strong", "br", "ul", "ol",
    "li", "figure", "img", "figcaption", "pre", "code", "div",
    # the reviewer's sign-off form (report_templates/sections/signoff.html.j2)
    "form", "label", "input", "select", "option", "textarea",
}  # fmt: skip


class _Tags(HTMLParser):
    """Collects every start tag and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self.event_handlers: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href"):
                self.urls.append(value or "")
            if name.startswith("on"):
                self.event_handlers.append(name)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def html() -> str:
    return render_html(make_result(), signer=SIGNER)


def _normalise(html: str) -> str:
    """Plots are tested on their own; here only their placement matters."""
    return DATA_URI.sub("data:image/svg+xml;base64,PLOT", html)


def test_html_matches_golden_file(html):
    html = _normalise(html)
    if os.environ.get("AUDIT_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(html, encoding="utf-8")
    assert html == GOLDEN.read_text(encoding="utf-8"), (
        "rendered HTML changed; review the diff and rerun with AUDIT_UPDATE_GOLDEN=1"
    )


def test_rendering_is_deterministic(html):
    assert render_html(make_result(), signer=SIGNER) == html


def test_hostile_group_names_are_escaped_not_interpreted(html):
    parsed = _parse(html)
    assert parsed.tags <= ALLOWED_TAGS
    assert parsed.event_handlers == []
    assert "<script>" not in html and HTML_NAME not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<b>not bold</b>" not in html  # a crash message is text, not markup
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html


def test_latex_rtl_and_emoji_names_pass_through_literally_and_isolated(html):
    assert r"$\frac{1}{0}$ \input{/etc/passwd} %&amp;_#{}" in html
    assert LATEX_NAME.replace("&", "&amp;") in html
    assert f"<bdi>{RTL_NAME}</bdi>" in html  # inline (a token), isolated from its neighbours
    assert f'<td class="">{RTL_NAME}</td>' in html  # a cell is its own bidi paragraph
    assert f"<bdi>race={EMOJI_NAME}</bdi>" in html


def test_very_long_names_are_shortened_in_tables(html):
    assert LONG_NAME not in html
    assert '<td class="">' + "L" * 159 + "…</td>" in html


def test_document_is_self_contained(html):
    parsed = _parse(html)
    assert parsed.urls, "the report should carry its plots"
    assert all(u.startswith("data:") for u in parsed.urls)


def test_css_is_linked_when_not_self_contained():
    html = render_html(make_result(evidence={}), signer=SIGNER, self_contained=False)
    assert "<style>" not in html
    assert re.search(
        r'<link rel="stylesheet" href="file:///[^"]+/report_templates/report.css">', html
    )


def test_head_carries_the_metadata_verify_reads(html):
    keywords = f"audit-verdict=fail; audit-id={audit_id(make_result())}; model-sha256={'1f' * 32}"
    assert f'<meta name="keywords" content="{keywords}">' in html
    assert f'<meta name="author" content="{SIGNER}">' in html
    assert "<title>Audit report: Credit default scorer</title>" in html


def test_audit_id_is_short_stable_and_input_dependent():
    a = audit_id(make_result())
    assert re.fullmatch(r"[0-9a-f]{12}", a)
    assert a == audit_id(make_result())
    assert a != audit_id(make_result(started_at="2026-11-03T09:15:00+00:00"))


def test_check_errors_and_empty_checks_are_said_plainly(html):
    assert '<tr class="state-error"><td>performance</td>' in html
    assert "This check failed before it could measure anything" in html
    skipped = make_result(
        check_runs=(CheckRun("bias", "ran"), CheckRun("robustness", "skipped", "off in spec")),
        metrics=(Metric("bias", "selection_rate", 0.5, feature="sex", group="F", n=40),),
        findings=(),
        evidence={},
    )
    other = render_html(skipped, signer=SIGNER)
    assert "This check was switched off in the spec; it measured nothing." in other
    assert "No findings: the policy had no rules that applied." in other


def test_malformed_evidence_is_reported_not_fatal():
    bad = Flip("gaussian_noise", 1, 0, 1, np.array([1.0]), np.array([1.0, 2.0]))
    evidence = RobustnessEvidence(
        "tabular", 10, "standard deviations", columns=("a",), flips=(bad,)
    )
    html = render_html(make_result(evidence={"robustness": evidence}), signer=SIGNER)
    assert "Some of this check&#39;s evidence could not be drawn (ValueError: zip()" in html
    assert '<p class="caption">Robustness measurements</p>' in html


def test_flipped_table_rows_show_changed_cells():
    html = render_html(make_result(evidence={"robustness": TABULAR_ROBUSTNESS}), signer=SIGNER)
    assert "Tabular rows whose prediction flipped" in html
    assert "income: 51000 → 50210" in html
    # a coded column shows the data's own labels, never its integer codes
    assert "Never-worked → Self-emp-not-inc" in html


def test_history_section_only_when_present(html):
    assert "Since the last audit" in html
    # tables with formatted numbers, never the ledger's raw records
    assert "0.710 (0.680–0.740)" in html and "previous_ci" not in html
    assert "Every rule that failed last time was measured again." in html
    assert "Since the last audit" not in render_html(make_result(evidence={}), signer=SIGNER)


def test_no_probes_means_nothing_judged_sentence():
    result = make_result(
        metrics=(), findings=(), evidence={}, check_runs=(CheckRun("spurious", "ran"),)
    )
    html = render_html(result, signer=SIGNER)
    assert "No spurious-feature probes were declared, so no reliance was judged." in html
    assert "This check ran but produced no measurements." in html


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(min_size=1, max_size=300))
def test_any_group_name_renders_as_text(name):
    result = make_result(
        metrics=(Metric("bias", "selection_rate", 0.4, feature=name, group=name, n=50),),
        findings=(),
        evidence={"bias": BiasEvidence(sentences=(name,))},
        check_runs=(CheckRun("bias", "ran", name),),
        model_info={"name": name},
    )
    parsed = _parse(render_html(result, signer=name))
    assert parsed.tags <= ALLOWED_TAGS
    assert parsed.event_handlers == []
    assert all(u.startswith("data:") for u in parsed.urls)


def test_every_probe_variant_is_defined_in_words(html):
    """A reviewer meets `swap` or `location_null` in a figure; the section says what it is."""
    from audit.checks.spurious.section import variant_definitions

    spurious = [m for m in make_result().metrics if m.check == "spurious" and m.perturbation]
    assert spurious
    (definition,) = variant_definitions(spurious)
    for variant in {m.perturbation for m in spurious}:
        named = variant.split("_", 1)[-1] if variant.endswith("_null") else variant
        assert named.replace("_", " ") in definition, variant
    assert definition.split(": ", 1)[0] + ":" in html


def test_tabular_local_explanations_render_with_label_and_contributions():
    from dataclasses import replace

    from audit.checks.spurious.evidence import TabularExample

    base = make_result().evidence["spurious"]
    row = TabularExample(
        probe="(local)",
        features=("age", "workclass"),
        values=("64", "Local-gov"),
        attribution=(-0.01, 0.2),
        pred=1,
        label=0,
        confidence=0.97,
    )
    evidence = {**make_result().evidence, "spurious": replace(base, local_examples=(row,))}
    html = render_html(make_result(evidence=evidence), signer=SIGNER)
    assert "Local explanations: the model" in html and "it is not a cause" in html
    assert "workclass = Local-gov (+0.2); age = 64 (-0.01)" in html
    assert "1 (97%)" in html and "0 (wrong)" in html
