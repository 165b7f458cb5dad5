"""Known answers: hand-built BERTs whose shortcut heads are set by construction, and the
hooked ablation checked against weight surgery (an independent route to the same model)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from circuits_handmade import SHORTCUT, context, handmade

from audit.checks.circuits.check import CircuitsCheck
from audit.checks.circuits.heads import Edit, HeadRunner, find_sites
from audit.checks.circuits.spec import CircuitsSpec
from audit.checks.spurious.spec import PhraseProbe
from audit.testing.hf import tiny_classifier

PROBE = [PhraseProbe(type="phrase", text=SHORTCUT)]


def _measure(shortcut: tuple[int, ...], **options: object):  # type: ignore[no-untyped-def]
    model, tokenizer = handmade(shortcut=shortcut)
    config = CircuitsSpec(probes=PROBE, n_boot=200, **options)  # type: ignore[arg-type]
    out = CircuitsCheck().measure(context(model, tokenizer, config))
    keys = {m: (m.name, m.layer, m.head) + ((m.method,) if m.method else ()) for m in out.metrics}
    return {k: m for m, k in keys.items()}, out


@pytest.mark.parametrize("ablation", ["mean", "zero"])
def test_one_shortcut_head_is_named_alone_and_confirmed(ablation: str):
    got, out = _measure((0,), ablation=ablation)
    heads = sorted((k[1], k[2]) for k in got if k[0] == "circuit_head")
    assert heads == [(0, 0)]
    assert got["circuit_ablation_effect", None, None].value == pytest.approx(1.0, abs=0.05)
    assert got["circuit_random_null", None, None].value == pytest.approx(0.0, abs=0.05)
    assert got["circuit_patching_recovery", None, None].value == pytest.approx(1.0, abs=0.05)
    assert got["circuit_accuracy_drop", None, None].value == pytest.approx(0.0, abs=0.02)
    excess = got["circuit_null_excess", None, None]
    assert excess.ci_low is not None and excess.ci_low > 0.9
    assert got["head_ablation_effect", 0, 0].value > 0.95
    assert all(abs(got["head_ablation_effect", 0, h].value) < 0.05 for h in range(1, 6))
    # descriptive: [CLS] of the shortcut head looks at the shortcut, the others do not
    first = {h: got["head_attention_share", 0, h, "first token"].value for h in range(6)}
    every = {h: got["head_attention_share", 0, h, "all positions"].value for h in range(6)}
    assert first[0] > 5 and first[1] == pytest.approx(1.0, abs=1e-3)
    assert 1.0 < every[0] < first[0]  # only the first position asks for the shortcut
    assert every[1] == pytest.approx(1.0, abs=1e-3)
    (probe,) = out.evidence.probes
    assert probe.circuit == ((0, 0),) and probe.found


def test_a_shortcut_split_across_two_heads_yields_both():
    got, _ = _measure((0, 1))
    heads = sorted((k[1], k[2]) for k in got if k[0] == "circuit_head")
    assert heads == [(0, 0), (0, 1)]
    for h in (0, 1):  # each alone removes about half
        assert 0.3 < got["head_ablation_effect", 0, h].value < 0.7
    assert got["circuit_ablation_effect", None, None].value == pytest.approx(1.0, abs=0.05)
    assert got["circuit_patching_recovery", None, None].value == pytest.approx(1.0, abs=0.05)
    assert abs(got["circuit_random_null", None, None].value) < 0.1


def test_no_effect_means_no_circuit_and_says_why():
    got, out = _measure(())  # no head reads the shortcut
    assert not any(k[0].startswith("circuit_") or k[0] == "head_ablation_effect" for k in got)
    assert "min_effect" in out.not_applicable["head_ablation_effect"]
    assert ("head_attention_share", 0, 0, "first token") in got  # still described
    assert abs(got["artifact_effect", None, None].value) < 0.05
    assert "min_effect" in out.not_applicable["circuit_ablation_effect"]


def _surgery(model: torch.nn.Module, layer: int, head: int) -> torch.nn.Module:
    """A copy whose head outputs zero: its value rows and bias zeroed (so softmax @ V = 0)."""
    clone = copy.deepcopy(model)
    sites = [s for s in clone.modules() if type(s).__name__.endswith("SelfAttention")]
    value = getattr(sites[layer], "value", None) or sites[layer].v_lin
    d = value.out_features // (
        getattr(sites[layer], "num_attention_heads", None) or sites[layer].n_heads
    )
    with torch.no_grad():
        value.weight[head * d : (head + 1) * d] = 0.0
        value.bias[head * d : (head + 1) * d] = 0.0
    return clone


def _tiny(architecture: str) -> torch.nn.Module:
    if architecture != "roberta":
        return tiny_classifier(30, architecture=architecture, layers=2, heads=2)  # type: ignore[arg-type]
    from transformers import RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=30,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        pad_token_id=0,
        num_labels=2,
    )
    return RobertaForSequenceClassification(config).eval()


@pytest.mark.parametrize("architecture", ["bert", "distilbert", "roberta"])
def test_batched_hooked_sweep_equals_a_per_head_per_text_loop_by_weight_surgery(architecture: str):
    from audit.loaders.huggingface import HFTextClassifier
    from audit.loaders.model import ModelRunner

    model = _tiny(architecture)
    rng = np.random.default_rng(0)
    ids = np.zeros((12, 9), dtype=np.int64)
    for i in range(12):  # ragged right-padded texts
        k = int(rng.integers(3, 10))
        ids[i, :k] = rng.integers(5, 30, size=k)

    def runner_of(m: torch.nn.Module) -> ModelRunner:
        return ModelRunner(
            HFTextClassifier(m, 0).eval(),
            "binary",
            "logits",
            0.5,
            "cpu",
            2,
            input_dtype=torch.int64,
            pad_id=0,
        )

    sites = find_sites(HFTextClassifier(model, 0))
    assert not isinstance(sites, str) and [s.n_heads for s in sites] == [2, 2]
    hooked = HeadRunner(runner_of(model), sites, batch_size=64)
    for layer, head in hooked.heads:
        batched = hooked.proba(ids, Edit.of([(layer, head)], None))
        cut = runner_of(_surgery(model, layer, head))
        with torch.no_grad():
            loop = np.concatenate(
                [
                    cut.scores(torch.as_tensor(ids[i : i + 1, : int((ids[i] != 0).sum())]))
                    .double()
                    .numpy()
                    for i in range(len(ids))
                ]
            )
        np.testing.assert_allclose(batched, loop, atol=1e-6)
    # no edit changes nothing
    np.testing.assert_allclose(hooked.proba(ids), runner_of(model).predict_proba(ids), atol=1e-6)


def test_models_without_reachable_heads_are_not_applicable():
    from audit.checks.circuits.heads import find_sites

    assert "Hugging Face encoder" in str(find_sites(torch.nn.Linear(2, 2)))


def test_task_importance_names_the_tone_heads_not_the_shortcut_head():
    got, _ = _measure((0,))
    importance = {k[2]: m.value for k, m in got.items() if k[0] == "head_task_importance"}
    assert set(importance) == set(range(6))
    assert importance[2] > 0.01 and importance[3] > 0.01  # the tone heads carry the task
    assert all(abs(importance[h]) < 1e-6 for h in (0, 1, 4, 5))  # no shortcut in the data


def test_accumulated_means_equal_the_mean_of_recorded_outputs_per_position():
    from audit.loaders.huggingface import HFTextClassifier
    from audit.loaders.model import ModelRunner

    model = tiny_classifier(30, layers=2, heads=2)
    module = HFTextClassifier(model, 0).eval()
    runner = ModelRunner(
        module, "binary", "logits", 0.5, "cpu", 2, input_dtype=torch.int64, pad_id=0
    )
    sites = find_sites(module)
    assert not isinstance(sites, str)
    hooked = HeadRunner(runner, sites, batch_size=5)  # several batches of ragged lengths
    ids = np.zeros((13, 8), dtype=np.int64)
    for i in range(13):
        ids[i, : 3 + i % 6] = 5 + i
    means = hooked.means(ids, 12)
    recorded = hooked.contexts(ids, [0, 1])
    real = torch.as_tensor(ids != 0, dtype=torch.float64)[..., None]
    for layer in (0, 1):
        c = recorded[layer].double()
        per_pos = (c * real).sum(0) / real.sum(0)
        reached = real.sum(0)[:, 0] > 0
        np.testing.assert_allclose(means[layer][:8][reached].double(), per_pos[reached], atol=1e-6)
        overall = (c * real).sum((0, 1)) / real.sum()
        np.testing.assert_allclose(means[layer][8:].double(), overall.expand(4, -1), atol=1e-6)


def test_hooks_go_on_a_private_copy_never_on_the_shared_module(monkeypatch: pytest.MonkeyPatch):
    """The flow runs checks concurrently on one module: hooks there would edit their passes."""
    import audit.checks.circuits.check as check

    model, tokenizer = handmade()
    ctx = context(model, tokenizer, CircuitsSpec(probes=PROBE, n_boot=20, random_draws=2))
    used: list[torch.nn.Module] = []
    real_init = check.HeadRunner.__init__

    def spy(self, runner, sites, batch_size):  # type: ignore[no-untyped-def]
        used.append(runner.module)
        real_init(self, runner, sites, batch_size)

    monkeypatch.setattr(check.HeadRunner, "__init__", spy)
    before = ctx.model.predict_proba(ctx.data.x)
    CircuitsCheck().measure(ctx)
    assert used and all(m is not ctx.model.module for m in used)
    shared = [m for m in ctx.model.module.modules() if m._forward_pre_hooks]
    assert shared == []
    assert ctx.model.module.model.config._attn_implementation == "sdpa"
    np.testing.assert_array_equal(ctx.model.predict_proba(ctx.data.x), before)


def test_patching_aligns_clean_tokens_to_the_inserted_text_skipping_the_phrase():
    from audit.checks.circuits.check import _alignment

    clean = np.array([[2, 7, 8, 3, 0, 0], [2, 9, 3, 0, 0, 0]])
    art = np.array([[2, 7, 5, 8, 3, 0], [2, 5, 9, 3, 0, 0]])  # 5: the phrase
    phrase = art == 5
    expected = np.array([[0, 1, 3, 4, -1, -1], [0, 2, 3, -1, -1, -1]])
    np.testing.assert_array_equal(_alignment(clean, art, 0, phrase), expected)
    # the insertion pushed the text past the maximum length (8 cut off): only the tokens
    # before the insertion point are patched
    cut = np.array([[2, 7, 5, 3, 0, 0]])
    got = _alignment(clean[:1], cut, 0, cut == 5)
    np.testing.assert_array_equal(got, [[0, 1, -1, -1, -1, -1]])
