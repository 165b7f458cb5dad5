"""Hugging Face text classifiers audit end to end from their folders, on raw text (issue #17).

The text demo's two BERT folders (`audit/demo/text.py`): the flagged model learned a
moderation-queue tag and two identity terms as toxic, its control learned neither. Both are
audited through the same pipeline a user runs, on a CSV of raw comments, with no wrapper and
no pre-tokenizing; a DistilBERT folder made with `save_pretrained` audits the same way.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from audit.demo import build_demo
from audit.pipeline import run_audit
from audit.records import AuditResult, Status, Verdict
from audit.signing import verify_pdf
from audit.testing.hf import tiny_bert_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_spec() -> Path:
    return build_demo("text")


@pytest.fixture(scope="module")
def flagged(demo_spec: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditResult, Path]:
    out = tmp_path_factory.mktemp("flagged")
    result, published = run_audit(demo_spec, out)
    return result, published.report


@pytest.fixture(scope="module")
def control(demo_spec: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditResult, Path]:
    out = tmp_path_factory.mktemp("control")
    result, published = run_audit(demo_spec.parent / "audit-control.yaml", out)
    return result, published.report


def _statuses(result: AuditResult, check: str) -> dict[tuple[str, str], Status]:
    return {
        (f.rule, f.metric.subject if f.metric else ""): f.status
        for f in result.findings
        if f.check == check
    }


def _failed(result: AuditResult, check: str) -> set[str]:
    return {f.rule for f in result.findings if f.check == check and f.status == Status.FAIL}


def test_every_check_ran_on_the_folder(flagged: tuple[AuditResult, Path]) -> None:
    result, _ = flagged
    states = {run.check: run.state for run in result.check_runs}
    assert states == {
        "bias": "ran",
        "spurious": "ran",
        "robustness": "ran",
        "identity_terms": "ran",
        "circuits": "ran",
        "performance": "ran",
    }, [(r.check, r.state, r.message) for r in result.check_runs]
    assert result.model_info["format"] == "huggingface"
    assert result.data_info["text_column"] == "text"


def test_the_shortcut_phrase_is_flagged_and_its_control_passes(
    flagged: tuple[AuditResult, Path], control: tuple[AuditResult, Path]
) -> None:
    assert flagged[0].verdict == Verdict.FAIL
    assert "SPUR-001" in _failed(flagged[0], "spurious")
    spurious = _statuses(control[0], "spurious")
    assert spurious and all(s in (Status.PASS, Status.SKIPPED) for s in spurious.values()), spurious


def test_the_planted_identity_bias_is_flagged_and_its_control_is_not(
    flagged: tuple[AuditResult, Path], control: tuple[AuditResult, Path]
) -> None:
    failed = _failed(flagged[0], "identity_terms")
    assert "IDT-001" in failed  # the counterfactual gap
    assert {"IDT-003", "IDT-004"} & failed  # BPSN / BNSP
    for rule in ("IDT-001", "IDT-003", "IDT-004"):
        assert rule not in _failed(control[0], "identity_terms")


def test_the_signed_report_shows_words_not_ids(flagged: tuple[AuditResult, Path]) -> None:
    _, report = flagged
    assert verify_pdf(report).valid
    text = subprocess.run(
        ["pdftotext", str(report), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "modqueue" in text and "muslim" in text
    assert "[CLS]" not in text and "[SEP]" not in text and "[PAD]" not in text


def test_a_distilbert_folder_audits_the_same_way(tmp_path: Path) -> None:
    words = ["good", "bad", "film", "the", "was", "very", "plot", "acting"]
    tiny_bert_folder(tmp_path / "distil", words, architecture="distilbert")
    rows = [
        {"text": f"the film was very {w} and the {n} was {w}", "label": int(w == "good")}
        for w in ("good", "bad")
        for n in ("plot", "acting")
    ] * 30
    pd.DataFrame(rows).to_csv(tmp_path / "reviews.csv", index=False)
    # no sensitive columns and no identity terms here: a policy that says so, on purpose
    (tmp_path / "policy.yaml").write_text(
        "name: distil-policy\nversion: 1.0.0\nextends: default\n"
        "optional_checks: [bias, identity_terms]\n"
    )
    (tmp_path / "audit.yaml").write_text(
        "name: distil\n"
        "model: {path: distil/, task: binary}\n"
        "data: {path: reviews.csv, text: text, label: label}\n"
        "checks: {bias: false, identity_terms: false}\n"
        "policy: policy.yaml\n"
    )
    result, published = run_audit(tmp_path / "audit.yaml", tmp_path / "out")
    assert result.model_info["format"] == "huggingface"
    ran = {r.check: r.state for r in result.check_runs}
    assert ran["spurious"] == "ran" and ran["robustness"] == "ran", result.check_runs
    findings = json.loads(published.findings.read_text())
    assert findings["model_info"]["config_sha256"] and findings["model_info"]["tokenizer_sha256"]
