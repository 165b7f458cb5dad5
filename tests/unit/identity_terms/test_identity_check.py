"""Known answers of the identity-term check on a token model whose bias is planted by hand."""

from __future__ import annotations

import dataclasses
import datetime
import re

import numpy as np
import pytest
from identity_planted import NEUTRAL, RELIGION, TOXIC, corpus, token_context
from sklearn.metrics import roc_auc_score

from audit import registry
from audit.checks.identity_terms.spec import IdentityTermsSpec
from audit.policy import load_policy
from audit.policy.evaluate import judge
from audit.presentation.view import ReportSettings, SectionInput
from audit.records import CheckRun, Metric, Status
from audit.testing.inputs import make_inputs

WORDS = [*NEUTRAL, *TOXIC, *RELIGION, "hindu"]
CONFIG = IdentityTermsSpec(terms={"religion": [*RELIGION, "hindu"]}, n_boot=200, sample=500)
TOXIC_WEIGHTS = dict.fromkeys(TOXIC, 12.0)
PLUGIN = registry.plugin("identity_terms")


def _measure(weights: dict[str, float], n: int = 400, **kw: object):
    texts, y = corpus(n)
    ctx = token_context(texts, y, weights, kw.pop("config", CONFIG), words=WORDS, **kw)  # type: ignore[arg-type]
    return ctx, PLUGIN.measure(ctx)


def _get(metrics, name: str, **keys: object) -> list[Metric]:
    return [
        m for m in metrics if m.name == name and all(getattr(m, k) == v for k, v in keys.items())
    ]


def _one(metrics, name: str, **keys: object) -> Metric:
    found = _get(metrics, name, **keys)
    assert len(found) == 1, (name, keys, found)
    return found[0]


def test_subgroup_bpsn_bnsp_equal_sklearn_on_the_same_subsets():
    ctx, out = _measure({**TOXIC_WEIGHTS, "muslim": 6.0})
    texts, y = ctx.data.texts, ctx.data.y
    score = ctx.predictions.proba[:, 1]
    overall = roc_auc_score(y, score)
    assert abs(_one(out.metrics, "overall_auc").value - overall) < 1e-12
    for term in RELIGION:
        sub = np.array([bool(re.search(rf"\b{term}\b", t, re.IGNORECASE)) for t in texts])
        pos = y == 1
        expected = {
            "subgroup_auc": sub,
            "bpsn_auc": (~sub & pos) | (sub & ~pos),
            "bnsp_auc": (sub & pos) | (~sub & ~pos),
        }
        for name, rows in expected.items():
            direct = roc_auc_score(y[rows], score[rows])
            m = _one(out.metrics, name, feature="religion", group=term)
            assert abs(m.value - direct) < 1e-12
            assert m.ci_low is not None and m.ci_low <= m.value <= m.ci_high
            gap = _one(out.metrics, f"{name}_gap", feature="religion", group=term)
            assert abs(gap.value - (overall - direct)) < 1e-12
        assert _one(out.metrics, "mentions", feature="religion", group=term).value == sub.sum()


def test_a_model_that_ignores_identity_words_has_zero_swap_gap_and_template_gap():
    _, out = _measure(TOXIC_WEIGHTS)
    for name in ("ctf_gap", "ctf_gap_term", "ctf_gap_pair", "swap_flip_rate"):
        found = _get(out.metrics, name)
        assert found and all(m.value == 0.0 and m.ci_low == m.ci_high == 0.0 for m in found)
    for name in ("template_score_gap", "template_fped", "template_fned"):
        assert _one(out.metrics, name, feature="religion").value == 0.0
    assert not out.not_applicable


def test_a_planted_bias_shows_in_swaps_templates_and_bpsn():
    _, out = _measure({**TOXIC_WEIGHTS, "muslim": 12.0})
    ctf = _one(out.metrics, "ctf_gap", feature="religion")
    assert ctf.ci_low > 0.1
    assert _one(out.metrics, "swap_flip_rate", feature="religion").ci_low > 0.1
    away = _one(
        out.metrics, "ctf_gap_pair", feature="religion", group="muslim", perturbation="to jewish"
    )
    neutral = _one(
        out.metrics, "ctf_gap_pair", feature="religion", group="christian", perturbation="to jewish"
    )
    assert away.value > 0.2 and neutral.value == 0.0
    assert _one(out.metrics, "bpsn_auc_gap", feature="religion", group="muslim").ci_low > 0.1
    assert _one(out.metrics, "bpsn_auc_gap", feature="religion", group="christian").value < 0.05
    scores = {m.group: m.value for m in _get(out.metrics, "template_mean_score")}
    assert scores["muslim"] > scores["christian"] + 0.2
    assert scores["christian"] == scores["jewish"] == scores["hindu"]
    top = out.evidence.examples[0]  # the most-changed swap, as words
    assert "muslim" in (top.source, top.target)
    assert (
        re.sub(top.source, top.target, top.before, flags=re.IGNORECASE).lower() == top.after.lower()
    )


def test_a_term_too_small_to_judge_is_not_measured_and_blocks_its_category():
    texts, y = corpus(400)
    texts = [t.replace("jewish", "hindu") if i % 10 else t for i, t in enumerate(texts)]
    ctx = token_context(texts, y, TOXIC_WEIGHTS, CONFIG, words=WORDS, min_group_size=30)
    out = PLUGIN.measure(ctx)
    small = _one(out.metrics, "mentions", feature="religion", group="jewish")
    assert small.n < 30
    assert not _get(out.metrics, "bpsn_auc", group="jewish")
    assert ("religion", "jewish", small.n) in out.evidence.too_small
    aggregate = _one(out.metrics, "max_bpsn_auc_gap", feature="religion")
    assert aggregate.n == small.n
    run = CheckRun("identity_terms", "ran", not_applicable=out.not_applicable)
    findings, _ = judge(load_policy("default"), out.metrics, [run], today=datetime.date(2026, 1, 1))
    idt3 = [f for f in findings if f.rule == "IDT-003"]
    assert [f.status for f in idt3] == [Status.INSUFFICIENT_DATA]
    assert "jewish" in idt3[0].message


def test_not_applicable_off_raw_text_with_a_reason():
    for modality in ("tabular", "image"):
        inputs = make_inputs(modality, "binary")
        out = PLUGIN.measure(inputs.context(IdentityTermsSpec()))
        assert not out.metrics and out.evidence.reason
        assert set(out.not_applicable) == PLUGIN.metric_names()
    inputs = make_inputs("text", "binary")
    ids_only = dataclasses.replace(inputs.data, texts=None, encoder=None)
    out = PLUGIN.measure(dataclasses.replace(inputs.context(IdentityTermsSpec()), data=ids_only))
    assert not out.metrics and "token ids" in next(iter(out.not_applicable.values()))


def test_the_sample_caps_the_swapped_texts_and_the_seed_fixes_the_draw():
    config = CONFIG.model_copy(update={"sample": 20, "templates": False})
    _, a = _measure({**TOXIC_WEIGHTS, "muslim": 6.0}, config=config)
    _, b = _measure({**TOXIC_WEIGHTS, "muslim": 6.0}, config=config)
    assert _one(a.metrics, "ctf_gap", feature="religion").n == 20
    assert [m.to_json() for m in a.metrics] == [m.to_json() for m in b.metrics]
    assert "template_score_gap" in a.not_applicable


def test_section_tables_and_plain_sentences_name_the_term():
    _, out = _measure({**TOXIC_WEIGHTS, "muslim": 12.0}, n=800, min_group_size=30)
    run = CheckRun("identity_terms", "ran")
    findings, _ = judge(load_policy("default"), out.metrics, [run], today=datetime.date(2026, 1, 1))
    settings = ReportSettings()
    section = PLUGIN.section(SectionInput(out.metrics, findings, out.evidence, settings))
    captions = [t.caption for t in section.tables]
    assert any(c.startswith("religion") and "CTF gap" in c for c in captions)
    assert any(c.startswith("Most-changed swaps") for c in captions)
    failed = {f.rule: f for f in findings if f.status == Status.FAIL}
    assert {"IDT-001", "IDT-002", "IDT-003"} <= set(failed)
    sentence = PLUGIN.plain_sentence(failed["IDT-003"], out.metrics, settings.confidence_pct)
    assert sentence and "muslim" in sentence and "BPSN" in sentence and "0.1" in sentence
    sentence = PLUGIN.plain_sentence(failed["IDT-001"], out.metrics, settings.confidence_pct)
    assert sentence and sentence.startswith("In religion, swapping")


@pytest.mark.parametrize("bad", [{"religion": ["muslim"]}, {"a": ["x", "y"], "b": ["X", "z"]}, {}])
def test_bad_terms_are_refused(bad):
    with pytest.raises(ValueError):
        IdentityTermsSpec(terms=bad)
