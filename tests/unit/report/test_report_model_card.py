"""The Markdown model card, reading an audit back from findings.json, and the export command."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from audit.cli.export import UNVERIFIED_NOTE, register
from audit.errors import ReportError
from audit.report import model_card, render_pdf
from audit.report.model_card import OWNER_BLANK
from audit.report.readback import NOT_FINDINGS, load_result, result_from_findings
from tests.unit.report.fixtures import HTML_NAME, make_result


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root, so `export` stays a subcommand."""

    register(app)
    return app


def test_card_states_verdict_and_leaves_owner_fields_blank():
    card = model_card(make_result())
    assert card.startswith("# Model card: Credit default scorer\n")
    assert "Audit verdict: **FAIL** under policy default 1.0.0" in card
    assert OWNER_BLANK in card
    assert "Attribution maps are evidence of location, not of causation." in card
    assert card.endswith("```\n")  # the spec, fenced


def test_card_escapes_markup_and_keeps_table_shape():
    card = model_card(make_result())
    assert "<script>" not in card and HTML_NAME not in card
    rows = [line for line in card.splitlines() if line.startswith("| FAIR-004")]
    assert len(rows) == 1
    assert rows[0].count(" | ") == 6  # seven columns, no cell split by a stray pipe


def test_card_fence_survives_backticks_in_spec():
    card = model_card(make_result(spec_text="name: a\n# ```` sneaky\n"))
    assert "`````yaml\nname: a\n# ```` sneaky\n`````" in card


def test_findings_json_round_trip():
    result = make_result()
    back = result_from_findings(json.loads(json.dumps(result.findings_json())))
    assert back.findings_json() == result.findings_json()
    assert [f.to_json() for f in back.findings] == [f.to_json() for f in result.findings]


def test_not_findings_json_is_a_clear_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"verdict": "pass"}')
    with pytest.raises(ReportError) as err:
        load_result(path)
    assert err.value.message == NOT_FINDINGS.format(key="schema_version")
    assert err.value.where == str(path)


def test_export_from_findings_json(tmp_path):
    result = make_result()
    src = tmp_path / "findings.json"
    src.write_text(json.dumps(result.findings_json()))
    out = tmp_path / "card.md"
    run = CliRunner().invoke(_app(), ["export", "model-card", str(src), "-o", str(out)])
    assert run.exit_code == 0, run.output
    # findings.json carries model_info, so the card names the model as the PDF's does
    card = out.read_text()
    assert card.startswith(f"# Model card: {result.model_info['name']}\n")
    assert "| version | 3.1.0 |" in card and "| rows | 10000 |" in card
    printed = CliRunner().invoke(_app(), ["export", "model-card", str(src)])
    assert printed.exit_code == 0 and "## Findings" in printed.stdout


@pytest.mark.slow
def test_export_from_report_pdf_reads_embedded_files(tmp_path):
    result = make_result(evidence={})
    pdf = render_pdf(
        result,
        signer="x",
        attachments={
            "findings.json": json.dumps(result.findings_json()).encode(),
            "spec.yaml": b"name: from-the-pdf\n",
            "policy.yaml": b"name: the-policy\n",
        },
    )
    src = tmp_path / "report.pdf"
    src.write_bytes(pdf)
    # a report re-rendered from the PDF prints the policy that judged it
    assert load_result(src).policy.text == "name: the-policy\n"
    run = CliRunner().invoke(_app(), ["export", "model-card", str(src)])
    assert run.exit_code == 0, run.output
    assert "name: from-the-pdf" in run.stdout
    assert UNVERIFIED_NOTE in run.stderr


def test_export_bad_input_raises_typed_error(tmp_path):
    src = tmp_path / "nope.json"
    src.write_text("not json")
    run = CliRunner().invoke(_app(), ["export", "model-card", str(src)])
    assert isinstance(run.exception, ReportError)
