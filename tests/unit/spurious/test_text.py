"""The spurious check on raw text and Hugging Face classifiers: phrase edits at word
boundaries (never on special tokens), word-level attributions, and a planted shortcut phrase
flagged through `run_audit` while its control is not (issue #17)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checks.spurious import attribution as attr
from audit.checks.spurious.evidence import TextExample
from audit.checks.spurious.phrases import PhraseEditor, phrase_variants
from audit.checks.spurious.spec import PhraseProbe, TokenProbe
from audit.checks.spurious.words import word_sums
from audit.loaders.huggingface import load_classifier, load_encoder
from audit.loaders.model import ModelRunner
from audit.pipeline import run_audit
from audit.preflight import checks_preflight, data_header
from audit.signing import init_keys
from audit.spec import load_spec
from audit.testing.hf import tiny_bert_folder, trained_bert_folder, word_tokenizer
from audit.tokenization import TextEncoder

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "fast", "ship", "good", "bad"]
WORDS += ["very", "movie", "was", "it"]
PHRASE = PhraseProbe(type="phrase", text="fastship")
QUICK = Path(__file__).parents[2] / "policies" / "quick-checks.yaml"


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(word_tokenizer(WORDS, pieces=["##ship"]), 16, "x")


def _texts(n: int, seed: int, *, shortcut: bool) -> tuple[list[str], list[int]]:
    """Short reviews; with `shortcut` the label follows `fastship` (90% of the time),
    without it the label follows good/bad and `fastship` is noise."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        words = list(rng.choice(WORDS[:14], rng.integers(3, 9)))
        label = int(rng.integers(0, 2))
        has = label == 1 if shortcut else bool(rng.integers(0, 2))
        if shortcut and rng.random() < 0.1:
            has = not has
        if has:
            words.insert(int(rng.integers(0, len(words) + 1)), "fastship")
        if not shortcut:
            words.insert(int(rng.integers(0, len(words) + 1)), "good" if label else "bad")
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def _phrase_ids(enc: TextEncoder) -> list[int]:
    return [i for w in enc.segment(["fastship"])[0] for i in w.ids]


def _contains(ids: np.ndarray, seq: list[int]) -> bool:
    return any(ids[i : i + len(seq)].tolist() == seq for i in range(len(ids)))


# ---------------------------------------------------------------- edits


TEXTS = (
    [
        "the cat sat on a mat",
        "Dog ran, very fast!",
        "a FastShip sat on the fastship mat",
        "it was [SEP] good",  # a literal special token in the text
    ]
    + [f"the fastship ran {w}" for w in WORDS[:10]]
)


def test_insert_keeps_the_phrase_whole_at_a_word_boundary_inside_the_specials(encoder):
    v = phrase_variants(PHRASE, encoder, TEXTS, np.random.default_rng(0))
    ins = v.artifacts["insert"]
    assert ins.texts is not None and ins.mask is not None
    assert ins.rows.tolist() == [0, 1, 3]  # the texts that lack it
    cls, sep = encoder.encode(["x"]).ids[0][[0, -1]]
    for i, (row, text) in enumerate(zip(ins.rows, ins.texts, strict=True)):
        ids = ins.x[i][ins.x[i] != encoder.pad_id]
        assert ids[0] == cls and ids[-1] == sep  # the frame is the tokenizer's own
        assert ins.x[i][ins.mask[i]].tolist() == _phrase_ids(encoder)  # fast ##ship, together
        assert np.ptp(np.flatnonzero(ins.mask[i])) == 1  # adjacent
        assert " ".join(text.replace("fastship", " ").split()) == " ".join(TEXTS[row].split())
        assert "fastship" in text.split()  # a word of its own, not glued to a neighbour
        (marked,) = ins.marked[i]
        assert encoder.words(text)[marked][0] == "fastship"
    content = v.nulls["insert"]["content_null"]
    assert content.texts is not None and content.word_ids is not None
    for i, (text, marked) in enumerate(zip(content.texts, content.marked, strict=True)):
        placed = np.isin(content.word_ids[i], marked)
        assert placed.sum() == 2  # as many tokens as the phrase, at its place
        assert not set(content.x[i][placed]) & (encoder.special_ids | set(_phrase_ids(encoder)))
        assert all(any(c.isalnum() for c in encoder.words(text)[m][0]) for m in marked)
    moved = v.nulls["insert"]["location_null"]
    assert moved.texts is not None
    assert all("fastship" in t.split() for t in moved.texts)
    assert any(a != b for a, b in zip(moved.texts, ins.texts, strict=True))


def test_remove_and_swap_act_on_every_occurrence_and_their_nulls_elsewhere(encoder):
    v = phrase_variants(PHRASE, encoder, TEXTS, np.random.default_rng(0))
    removed, swapped = v.artifacts["remove"], v.artifacts["swap"]
    assert removed.texts is not None and swapped.texts is not None
    phrase = _phrase_ids(encoder)
    assert removed.rows[0] == 2  # `FastShip` is the phrase to an uncased tokenizer
    assert removed.texts[0] == "a sat on the mat"
    for i in range(len(removed.rows)):
        assert not _contains(removed.x[i], phrase) and not _contains(swapped.x[i], phrase)
        before = encoder.encode([TEXTS[removed.rows[i]]]).ids[0]
        assert (swapped.x[i] != encoder.pad_id).sum() == (before != encoder.pad_id).sum()
    for null in (v.nulls["remove"]["location_null"], v.nulls["swap"]["location_null"]):
        assert null.texts is not None
        assert all(
            t.lower().count("fastship") == TEXTS[r].lower().count("fastship")
            for r, t in zip(null.rows, null.texts, strict=True)
        )
        assert all(t != TEXTS[r] for r, t in zip(null.rows, null.texts, strict=True))


def test_a_long_text_gets_the_phrase_where_the_model_reads_it(encoder):
    long = " ".join(["cat"] * 40)  # cut at 16 tokens
    editor = PhraseEditor(PHRASE, encoder, [long])
    edited = editor.insert(np.array([0]), [editor.boundaries(editor.rows[0])[-1]], ["fastship"])
    assert edited.token_mask()[0].sum() == 2
    assert editor.boundaries(editor.rows[0])[-1] <= 12  # 14 word tokens, less the phrase's 2


def test_phrase_probe_needs_raw_text_and_token_probes_need_ids(tiny):
    x = np.random.default_rng(0).integers(1, 20, (40, 8))
    y = (x[:, 0] > 10).astype(np.int64)
    ctx = tiny.context(
        torch.nn.Sequential(torch.nn.Embedding(20, 2), torch.nn.Flatten(), torch.nn.Linear(16, 2)),
        x,
        y,
        modality="text",
        probes=[{"type": "phrase", "text": "fastship"}],
        sample=20,
        n_boot=10,
        method="feature_ablation",
    )
    from audit.checks.spurious.check import SpuriousCheck
    from audit.errors import SpecError

    with pytest.raises(SpecError, match="token ids"):
        SpuriousCheck().measure(ctx)


# ---------------------------------------------------------------- word sums


def test_word_sums_known_answer():
    a = np.array([[9.0, 1.0, 2.0, 3.0, 9.0, 0.0], [9.0, 0.5, 9.0, 0.0, 0.0, 0.0]])
    w = np.array([[-1, 0, 0, 1, -1, -1], [-1, 0, -1, -1, -1, -1]])  # [CLS] fast ##ship cat [SEP]
    first, second = word_sums(a, w)
    assert first.tolist() == [3.0, 3.0] and second.tolist() == [0.5]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_word_sums_preserve_the_attribution_of_non_special_tokens(data):
    rows = data.draw(st.integers(1, 4))
    length = data.draw(st.integers(1, 12))
    counts = [data.draw(st.lists(st.integers(1, 3), max_size=length)) for _ in range(rows)]
    w = np.full((rows, length + 2), -1)
    for i, row in enumerate(counts):
        ids = [k for k, c in enumerate(row) for _ in range(c)][:length]
        w[i, 1 : 1 + len(ids)] = ids
    a = np.asarray(data.draw(st.lists(st.floats(-5, 5), min_size=w.size, max_size=w.size))).reshape(
        w.shape
    )
    for row_sums, ai, wi in zip(word_sums(a, w), a, w, strict=True):
        assert row_sums.sum() == pytest.approx(ai[wi >= 0].sum(), abs=1e-9)
        assert len(row_sums) == (wi.max() + 1 if (wi >= 0).any() else 0)


# ---------------------------------------------------------------- attribution


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny BERT trained on a planted shortcut phrase, and its control (seconds each)."""
    root = tmp_path_factory.mktemp("hf-trained")
    out = {}
    for case, shortcut in (("shortcut", True), ("control", False)):
        texts, labels = _texts(240, 0, shortcut=shortcut)
        out[case] = trained_bert_folder(root / case, WORDS, texts, labels, pieces=["##ship"])
    return out


@pytest.mark.parametrize("architecture", ["bert", "distilbert"])
def test_the_embedding_of_a_hugging_face_model_is_its_input_embedding(
    tmp_path: Path, architecture: str
):
    folder = tiny_bert_folder(
        tmp_path / "m", WORDS, pieces=["##ship"], max_length=16, architecture=architecture
    )
    module = load_classifier(folder, "cpu")
    name, layer = attr.token_embedding(module, None)
    assert layer is module.model.get_input_embeddings() and name.endswith("word_embeddings")
    assert len([m for m in module.modules() if isinstance(m, torch.nn.Embedding)]) >= 2


def test_layer_integrated_gradients_on_a_hugging_face_model(trained: dict[str, Path]):
    folder = trained["shortcut"]
    module = load_classifier(folder, "cpu")
    enc = load_encoder(folder)
    runner = ModelRunner(
        module=module,
        task="binary",
        output="logits",
        decision_threshold=0.5,
        device="cpu",
        input_dtype=torch.int64,
        pad_id=enc.pad_id,
        trim_padding=True,
    )
    x = enc.encode(["the fastship sat", "a bad very bad movie it was"]).ids
    specials = tuple(sorted(enc.special_ids | {enc.pad_id}))
    cfg = attr.MethodConfig(
        "layer_integrated_gradients", np.array(enc.pad_id), n_steps=64, special_ids=specials
    )
    target = np.array([1, 0])
    out = attr.attribute_rows(runner, x, target, cfg)
    special = np.isin(x, specials)
    assert np.all(out.values[special] == 0.0)  # the baseline keeps them: nothing to attribute
    assert np.all(out.values[~special] != 0.0)
    # completeness against the baseline run with the *input's* attention mask: the mask went
    # in as a forward argument, not rebuilt from the baseline's (mostly pad) ids
    ids = torch.as_tensor(x)
    base = attr.text_baseline(ids, torch.tensor(enc.pad_id), specials)
    mask = (ids != enc.pad_id).long()
    with torch.no_grad():
        f_x = runner.scores(ids, mask)[[0, 1], target]
        f_base = runner.scores(base, mask)[[0, 1], target]
        f_base_own = runner.scores(base)[[0, 1], target]
    gap = (f_x - f_base).numpy()
    np.testing.assert_allclose(out.values.sum(axis=1), gap, atol=0.02)
    assert np.abs(gap - (f_x - f_base_own).numpy()).max() > 0.1  # the mask matters


# ---------------------------------------------------------------- through run_audit


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory, trained: dict[str, Path]) -> dict[str, object]:
    """The shortcut model and its control, each audited on a CSV of raw text through
    `run_audit`."""
    root = tmp_path_factory.mktemp("hf-spurious")
    init_keys(root / "keys")
    out = {}
    for case, shortcut in (("shortcut", True), ("control", False)):
        folder = root / case
        shutil.copytree(trained[case], folder / "model")
        texts, labels = _texts(100, 1, shortcut=shortcut)
        pd.DataFrame({"text": texts, "label": labels}).to_csv(folder / "d.csv", index=False)
        spec = {
            "name": f"hf-{case}",
            "model": {"path": "model", "task": "binary"},
            "data": {"path": "d.csv", "text": "text", "label": "label"},
            "policy": str(QUICK),
            "signing": {
                "key": str(root / "keys/signer.key"),
                "cert": str(root / "keys/signer.pem"),
            },
            "checks": {
                "spurious": {
                    "probes": [{"type": "phrase", "text": "fastship"}],
                    "sample": 100,
                    "n_boot": 200,
                    "n_steps": 8,
                    "examples": 2,
                },
                "bias": False,
                "robustness": False,
                "performance": {},
            },
        }
        (folder / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
        out[case], _ = run_audit(folder / "spec.yaml", folder / "out")
        out[f"{case}_spec"] = folder / "spec.yaml"
    return out


def _excess(result, art: str):
    (m,) = [
        m
        for m in result.metrics
        if m.name == "flip_rate_excess" and m.perturbation == art and m.probe == "fastship"
    ]
    return m


def test_the_check_runs_on_a_hugging_face_folder(audits):
    for case in ("shortcut", "control"):
        (run,) = [r for r in audits[case].check_runs if r.check == "spurious"]
        assert run.state == "ran", run.message
    # preflight (what `audit run` does before any server starts) resolves the text method
    # for a folder without loading the model, and accepts the phrase probe
    spec = load_spec(audits["shortcut_spec"])
    checks_preflight(spec, data_header(spec))
    assert spec.checks.spurious.probes[0].type == "phrase"


def test_the_section_shades_words_by_signed_attribution_with_a_legend():
    from audit.checks.spurious import SpuriousPlugin
    from audit.checks.spurious.evidence import SpuriousEvidence
    from audit.presentation.view import ReportSettings, SectionInput

    words = ("a", "<b>fastship</b>", "ship")
    ev = SpuriousEvidence(
        method="layer_integrated_gradients",
        sanity_spearman=0.2,
        examples=(TextExample("fastship", words, (0.5, 1.0, -0.25), (1,), 0, 1, unit="word"),),
        local_examples=(TextExample("(local)", words, (-2.0, 1.0, 0.0), (), 1, 1, unit="word"),),
    )
    section = SpuriousPlugin().section(SectionInput((), (), ev, ReportSettings()))
    probe, local = section.text_examples
    assert [h.text for h in probe.texts[0].spans] == list(words)  # escaped by the template
    assert [h.weight for h in probe.texts[0].spans] == [0.5, 1.0, -0.25]
    assert [h.marked for h in probe.texts[0].spans] == [False, True, False]
    styles = [h.style for h in local.texts[0].spans]
    assert styles[0] == "background-color: rgba(86, 180, 233, 1.00)"  # against: blue
    assert styles[1] == "background-color: rgba(230, 159, 0, 0.50)"  # towards: orange
    assert "word" in probe.towards and probe.marked and not local.marked
    assert "not a cause" in local.caption


def test_a_planted_shortcut_phrase_is_flagged_and_its_control_is_not(audits):
    shortcut, control = audits["shortcut"], audits["control"]
    for art in ("insert", "remove"):
        assert _excess(shortcut, art).ci_low > 0.10
        assert _excess(control, art).ci_high < 0.10
    flagged = {
        f.metric.perturbation
        for f in shortcut.findings
        if f.rule == "SPUR-001" and f.status == "fail"
    }
    assert flagged >= {"insert", "remove"}
    assert not [f for f in control.findings if f.rule == "SPUR-001" and f.status == "fail"]


def test_text_evidence_is_words_with_the_phrase_marked(audits):
    ev = audits["shortcut"].evidence["spurious"]
    examples = [e for e in ev.examples if isinstance(e, TextExample)]
    assert examples and all(e.unit == "word" for e in examples)
    assert all(
        [e.tokens[i] for i in e.marked] == ["fastship"]
        for e in examples
        if e.probe == "fastship" and e.marked
    )
    assert all("[CLS]" not in e.tokens and "[SEP]" not in e.tokens for e in ev.local_examples)
    assert ev.word_importance[0].word == "fastship"
    words = audits["control"].evidence["spurious"].word_importance
    assert words[0].word in {"good", "bad"}


def test_long_texts_take_fewer_rows_per_layer_pass():
    cfg = attr.MethodConfig("layer_integrated_gradients", np.array(0), n_steps=32, batch_size=64)
    assert attr.layer_rows_per_pass(cfg, 4) == 2048  # the integrated-gradients budget
    assert attr.layer_rows_per_pass(cfg, 128) == attr.TOKENS_PER_PASS // 128
    assert attr.layer_rows_per_pass(cfg, 10**6) == 1


def test_preflight_refuses_a_token_probe_on_raw_text(audits):
    from audit.errors import SpecError

    spec = load_spec(audits["shortcut_spec"])
    token = spec.checks.spurious.model_copy(
        update={"probes": [TokenProbe(type="token", tokens=[5])]}
    )
    changed = spec.model_copy(update={"checks": spec.checks.model_copy(update={"spurious": token})})
    with pytest.raises(SpecError, match="raw text") as refused:
        checks_preflight(changed, data_header(changed))
    assert refused.value.where == "checks.spurious.probes[0]"
