"""The circuits check's report section and plain sentence, and where it does not apply."""

from __future__ import annotations

import pytest
from circuits_handmade import SHORTCUT, context, handmade

from audit.checks.circuits import CircuitsPlugin
from audit.checks.circuits.check import ALL_NAMES, CircuitsCheck
from audit.checks.circuits.section import sentence
from audit.checks.circuits.spec import CircuitsSpec
from audit.checks.spurious.spec import PhraseProbe
from audit.presentation.view import ReportSettings, SectionInput
from audit.records import Finding, Severity, Status
from audit.testing.inputs import make_inputs


@pytest.fixture(scope="module")
def measured():  # type: ignore[no-untyped-def]
    model, tokenizer = handmade(shortcut=(0, 1))
    config = CircuitsSpec(probes=[PhraseProbe(type="phrase", text=SHORTCUT)], n_boot=100)
    return CircuitsCheck().measure(context(model, tokenizer, config))


def test_the_sentence_names_the_heads_the_null_patching_and_accuracy(measured):  # type: ignore[no-untyped-def]
    said = sentence(measured.metrics, SHORTCUT)
    assert said is not None
    assert said.startswith("Heads 0.0 and 0.1 carry 10") or said.startswith(
        "Heads 0.1 and 0.0 carry 10"
    )
    assert "(random sets of 2:" in said and "restore" in said and "points of accuracy" in said
    excess = next(m for m in measured.metrics if m.name == "circuit_null_excess")
    finding = Finding(
        "CIRC-001", "circuits", "circuit_null_excess", Status.FAIL, Severity.MINOR, None, "", excess
    )
    assert CircuitsPlugin().plain_sentence(finding, measured.metrics, "95%") == said


def test_the_section_draws_both_heatmaps_and_lists_the_confirmations(measured):  # type: ignore[no-untyped-def]
    section = CircuitsPlugin().section(
        SectionInput(measured.metrics, (), measured.evidence, ReportSettings())
    )
    assert len(section.figures) == 3  # ablation, attention, task importance
    assert all(f.uri.startswith("data:image/svg+xml") for f in section.figures)
    circuit = next(t for t in section.tables if t.caption.startswith("Circuit for"))
    labels = [row[0].text for row in circuit.rows]
    assert any(label.startswith("necessity") for label in labels)
    assert any(label.startswith("sufficiency") for label in labels)
    assert section.sentences and section.sentences[0].startswith("Heads 0.")


@pytest.mark.parametrize("modality", ["tabular", "image", "text"])
def test_other_models_and_modalities_are_not_applicable_with_a_reason(modality: str):
    inputs = make_inputs(modality, "binary")
    config = CircuitsSpec(probes=[PhraseProbe(type="phrase", text="w3")])
    out = CircuitsPlugin().measure(inputs.context(config))
    assert out.metrics == ()
    assert set(out.not_applicable) == set(ALL_NAMES)
    reason = out.not_applicable["head_ablation_effect"]
    assert ("Hugging Face" in reason) if modality == "text" else (modality in reason)
