"""Raw-text robustness end to end: a CSV of texts, a tiny Hugging Face folder, `run_audit`.

The texts are perturbed as strings, tokenized by the folder's own tokenizer and scored; the
findings carry every family at every level, the shipped policy packs judge them, and the
report shows the edited words HTML-escaped.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from findings_v1 import as_version_1
from markupsafe import escape

from audit.checks.base import Predictions
from audit.checks.robustness.check import RAW_TEXT_ADVERSARIAL_NOTE, RobustnessCheck
from audit.checks.robustness.evidence import RobustnessEvidence, TextFlip
from audit.checks.robustness.raw_text import NOT_EDITABLE
from audit.checks.robustness.string_edits import FAMILIES
from audit.pipeline import context, load, predict, run_audit
from audit.policy import load_policy, shipped_policies
from audit.records import AuditResult, Metric
from audit.signing import init_keys
from audit.testing.hf import tiny_bert_folder
from audit.testing.rows import WorkerLikeRows

NEUTRAL = ["the", "movie", "film", "was", "very", "i", "would", "buy", "it", "again", "really"]
POSITIVE, NEGATIVE = ["good", "great", "fine", "nice"], ["bad", "awful", "poor"]
WORDS = [*NEUTRAL, *POSITIVE, *NEGATIVE, "b"]
SAMPLE = 60  # every row: the long text is always in the sample


def _data(n: int) -> tuple[list[str], np.ndarray]:
    """Neutral words around one sentiment word, which decides the label."""
    rng = np.random.default_rng(0)
    texts, labels = [], (np.arange(n) % 2).astype(np.int64)
    for label in labels:
        words = list(rng.choice(NEUTRAL, rng.integers(3, 11)))
        words.insert(int(rng.integers(len(words) + 1)), rng.choice(POSITIVE if label else NEGATIVE))
        texts.append(" ".join(words).capitalize() + rng.choice([".", "!", "", "?"]))
    texts[1] = "The <b>movie</b> was good & very nice, i would buy it again."
    texts[2] = " ".join(["very"] * 40) + " bad"  # past the model's maximum length
    return texts, labels


def trained_folder(folder: Path, texts: list[str], labels: np.ndarray) -> Path:
    """A tiny BERT folder fitted to the labels (an untrained one decides every text alike, and
    nothing could flip)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tiny_bert_folder(folder, WORDS, max_length=24, seed=3)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).train()
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    target = torch.as_tensor(labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(15):
        optimizer.zero_grad()
        model(**batch, labels=target).loss.backward()
        optimizer.step()
    model.eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fitted tiny BERT folder, a CSV of raw texts and the spec; returns the spec path."""
    root = tmp_path_factory.mktemp("rawtext")
    init_keys(root / "keys")
    texts, labels = _data(60)
    trained_folder(root / "model", texts, labels)
    frame = pd.DataFrame({"text": texts, "label": labels, "group": ["a", "b"] * 30})
    frame.to_csv(root / "data.csv", index=False)
    spec = {
        "name": "rawtext",
        "model": {"path": "model", "task": "binary"},
        "data": {"path": "data.csv", "text": "text", "label": "label", "sensitive": ["group"]},
        "checks": {
            "bias": False,
            "spurious": False,
            "robustness": {"sample": SAMPLE, "batch_size": 16},
            "performance": {},
        },
        "policy": "default",
        "signing": {"key": str(root / "keys/signer.key"), "cert": str(root / "keys/signer.pem")},
    }
    (root / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return root / "spec.yaml"


@pytest.fixture(scope="module")
def audited(inputs: Path) -> tuple[AuditResult, str]:
    root = inputs.parent
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AUDIT_LEDGER_URL", f"sqlite:///{root / 'ledger.sqlite'}")
        result, _ = run_audit(inputs, root / "out", formats=("html",))
    html = next((root / "out").rglob("*.html")).read_text(encoding="utf-8")
    return result, html


def _robustness(result: AuditResult) -> list[Metric]:
    return [m for m in result.metrics if m.check == "robustness"]


def test_every_family_is_measured_at_every_level(audited: tuple[AuditResult, str]) -> None:
    result, _ = audited
    metrics = _robustness(result)
    levels = {(m.perturbation, m.level) for m in metrics if m.name == "flip_rate"}
    assert levels == {(f, s) for f in FAMILIES for s in range(1, 6)}
    for m in metrics:
        if m.name in ("accuracy", "flip_rate", "invariance_failure_rate"):
            assert m.ci_low is not None and m.ci_high is not None
            assert m.ci_low <= m.value <= m.ci_high
            assert m.n is not None and 0 < m.n <= SAMPLE
    # every sampled text has a word to edit for these families: n is the whole sample
    for family in ("typo", "casing", "whitespace_punctuation"):
        assert {m.n for m in metrics if m.perturbation == family} == {SAMPLE}
    ev = result.evidence["robustness"]
    assert isinstance(ev, RobustnessEvidence)
    assert ev.epsilon_units == "shares of each text's words edited"
    assert set(ev.text_edits) == set(FAMILIES)
    # the 40-word text stays past the 24-token maximum under typos: counted at each level
    assert all(t >= 1 for t in ev.text_edits["typo"].truncated)


def test_this_audits_findings_json_in_version_1_reads_back_the_same(
    audited: tuple[AuditResult, str],
) -> None:
    """findings.json as an audit before schema version 2 wrote it (the level as `severity`,
    `metric_severity` in a finding) reads back as the version 2 document."""
    result, _ = audited
    doc = json.loads(json.dumps(result.findings_json()))
    old = as_version_1(doc)
    graded = [m for m in old["metrics"] if m["check"] == "robustness" and "severity" in m]
    assert len(graded) == len([m for m in doc["metrics"] if "level" in m]) > 0
    assert any("metric_severity" in f for f in old["findings"] if f["rule"] == "ROB-001")
    back = AuditResult.from_findings_json(old)
    assert back.findings_json() == doc
    assert back.metrics == AuditResult.from_findings_json(doc).metrics


def test_shipped_packs_judge_the_new_families(audited: tuple[AuditResult, str]) -> None:
    result, _ = audited
    judged = {
        f.metric.perturbation
        for f in result.findings
        if f.rule == "ROB-001" and f.metric is not None
    }
    assert judged == set(FAMILIES)
    metrics = _robustness(result)
    for pack in shipped_policies():
        rules = [r for r in load_policy(pack).rules if r.check == "robustness"]
        for rule in rules:
            if rule.subject.level is None:
                continue  # not a graded rule (e.g. the attack's ε): declared not applicable
            matched = {m.perturbation for m in metrics if m.name == rule.metric
                       and rule.subject.matches(m)}  # fmt: skip
            assert matched == set(FAMILIES), (pack, rule.id)


def test_report_shows_the_edited_words_escaped_and_defines_each_family(
    audited: tuple[AuditResult, str],
) -> None:
    _, html = audited
    for family, (_, words) in FAMILIES.items():
        assert escape(f"Family {family}: {words}.") in html
    assert "What the raw-text edits did" in html
    assert "<b>movie</b>" not in html  # the data's markup is shown, not obeyed


def test_sharded_scoring_gives_the_same_metrics_and_the_texts_repeat(inputs: Path) -> None:
    """Edited texts scored over worker-like shards (each sorting its own rows by length) give
    what one process gives; a second run with the same seed edits the same texts."""
    loaded = load(inputs)
    ctx = context(loaded, predict(loaded), "robustness")
    ctx = replace(ctx, config=ctx.config.model_copy(update={"sample": 20, "batch_size": 8}))
    whole = RobustnessCheck().measure(ctx)
    rows = WorkerLikeRows(ctx.model, shards=3)
    sharded = RobustnessCheck().measure(replace(ctx, rows=rows))
    assert ("audit.checks.rows:predict_slice", 3) in rows.calls
    assert whole.metrics == sharded.metrics
    again = RobustnessCheck().measure(ctx)
    assert again.metrics == whole.metrics
    assert isinstance(again.evidence, RobustnessEvidence)
    assert isinstance(whole.evidence, RobustnessEvidence)
    assert again.evidence.text_flips == whole.evidence.text_flips
    assert whole.not_applicable["min_flip_epsilon_median"] == RAW_TEXT_ADVERSARIAL_NOTE


def test_flipped_texts_are_escaped_and_edits_shown_as_original_to_perturbed() -> None:
    from audit.report import render_html
    from tests.unit.report.fixtures import make_result

    flip = TextFlip(
        perturbation="whitespace_punctuation",
        level=2,
        pred=1,
        pred_after=0,
        before="<b>good</b> film",
        after="<b>good</b>film",
        edits=(("b> ", "b>"),),
    )
    drop = replace(flip, perturbation="word_drop", edits=(("<i>", ""),), after="film")
    ev = RobustnessEvidence.from_parts(
        modality="text",
        n=2,
        epsilon_units="shares of each text's words edited",
        notes=[],
        parts={
            "flipped_raw_texts": [vars(flip), vars(drop)],
            "text_families": {f: words for f, (_, words) in FAMILIES.items()},
        },
    )
    result = make_result()
    evidence = {**result.evidence, "robustness": ev}
    html = render_html(replace(result, evidence=evidence), signer="A reviewer")
    assert "<b>good</b>" not in html and "<i>" not in html
    assert "&lt;b&gt;good&lt;/b&gt;film" in html  # the perturbed text, escaped
    assert "b&gt;␣ → b&gt;" in html  # a removed space, made visible
    assert "&lt;i&gt; → ∅" in html  # a dropped word
    first_figure = html.index("Figures", html.index("check-robustness"))
    assert html.index(escape(f"Family typo: {FAMILIES['typo'][1]}.")) < first_figure


def test_a_family_that_can_edit_no_text_is_not_measured_and_the_report_says_so(
    inputs: Path,
) -> None:
    loaded = load(inputs)
    assert loaded.data.encoder is not None
    texts = tuple(f"zebra {i} quartz" for i in range(len(loaded.data)))  # not on the list
    data = replace(loaded.data, texts=texts, x=loaded.data.encoder.encode(texts).ids)
    proba = loaded.runner.predict_proba(data.x)
    ctx = replace(
        context(loaded, predict(loaded), "robustness"),
        data=data,
        predictions=Predictions(proba=proba, label=loaded.runner.decide(proba)),
    )
    out = RobustnessCheck().measure(ctx)
    measured = {m.perturbation for m in out.metrics if m.perturbation}
    assert measured == set(FAMILIES) - {"synonym"}
    assert isinstance(out.evidence, RobustnessEvidence)
    assert NOT_EDITABLE.format(family="synonym") in out.evidence.notes
    assert "synonym" not in out.evidence.text_edits
