"""Cost of the spurious check's text attributions on a Hugging Face classifier against raw
forward+backward of the same model.

One run, the same rows and token count for every column:
- ours: rows/s of `attribute_rows` with layer_integrated_gradients (captum's
  LayerIntegratedGradients on `get_input_embeddings()`, the attention mask passed, specials
  kept in the baseline), batched as the check runs it, plus the word sums of the report;
- raw: rows/s of batched forward+backward of the same model to its input embeddings
  (`inputs_embeds`, the same attention mask), over n_steps model rows per input row, with the
  same model rows per pass (`layer_rows_per_pass`): the ceiling for any
  integrated-gradients implementation;
- naive: rows/s of one captum `attribute` call per text.
Goal: ours / raw >= 0.8. Best of `--repeats` interleaved timings, one torch thread (steadier
on a shared machine). Usage: PYTHONPATH=. python bench/text_attribution.py [--repeats 5]
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import torch
from _timing import best_of
from captum.attr import LayerIntegratedGradients

from audit.checks.spurious.attribution import (
    TOKENS_PER_PASS,
    MethodConfig,
    attribute_rows,
    layer_rows_per_pass,
    text_baseline,
)
from audit.checks.spurious.words import word_sums
from audit.loaders.huggingface import HFTextClassifier
from audit.loaders.model import ModelRunner
from audit.testing.hf import tiny_classifier, word_tokenizer
from audit.tokenization import TextEncoder

N_STEPS = 32
BATCH = 64  # the spec default: at most 2,048 model rows per pass, fewer for long texts
WORDS = [f"w{i}" for i in range(500)]


def _ours(runner: ModelRunner, x: np.ndarray, word_ids: np.ndarray, cfg: MethodConfig) -> None:
    target = np.ones(len(x), dtype=np.int64)
    word_sums(attribute_rows(runner, x, target, cfg).values, word_ids)


def _raw(runner: ModelRunner, x: np.ndarray, chunk: int) -> None:
    """Forward+backward to the input embeddings over len(x) * N_STEPS model rows."""
    module = runner.module
    assert isinstance(module, HFTextClassifier)
    embed = module.model.get_input_embeddings()
    rows = np.repeat(np.arange(len(x)), N_STEPS)
    for start in range(0, len(rows), chunk):
        ids = torch.as_tensor(x[rows[start : start + chunk]])
        emb = embed(ids).detach().requires_grad_()
        mask = (ids != runner.pad_id).long()
        logits = module.model(inputs_embeds=emb, attention_mask=mask).logits
        torch.softmax(logits, dim=1)[:, 1].sum().backward()


def _naive(runner: ModelRunner, x: np.ndarray, specials: tuple[int, ...]) -> None:
    module = runner.module
    assert isinstance(module, HFTextClassifier)
    lig = LayerIntegratedGradients(runner.scores, module.model.get_input_embeddings())
    for i in range(len(x)):
        ids = torch.as_tensor(x[i : i + 1])
        pad = torch.tensor(runner.pad_id or 0)
        lig.attribute(
            ids,
            baselines=text_baseline(ids, pad, specials),
            target=1,
            additional_forward_args=((ids != pad).long(),),
            n_steps=N_STEPS,
        )


def bench(hidden: int, layers: int, tokens: int, n: int, repeats: int) -> str:
    tokenizer = word_tokenizer(WORDS, max_length=tokens)
    encoder = TextEncoder(tokenizer, tokens, "bench")
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, tokens)) for _ in range(n)]  # each cut at `tokens`
    enc = encoder.encode(texts)
    model = tiny_classifier(
        len(tokenizer), hidden=hidden, layers=layers, heads=4, max_length=tokens, seed=0
    )
    for p in model.parameters():
        p.requires_grad_(False)
    runner = ModelRunner(
        module=HFTextClassifier(model, encoder.pad_id),
        task="binary",
        output="logits",
        decision_threshold=0.5,
        device="cpu",
        input_dtype=torch.int64,
        pad_id=encoder.pad_id,
        trim_padding=True,
    )
    specials = tuple(sorted(encoder.special_ids | {encoder.pad_id}))
    cfg = MethodConfig(
        method="layer_integrated_gradients",
        baseline=np.array(encoder.pad_id),
        n_steps=N_STEPS,
        batch_size=BATCH,
        special_ids=specials,
    )
    few = enc.ids[:8]
    best = best_of(
        {
            "ours": partial(_ours, runner, enc.ids, enc.word_ids, cfg),
            "raw": partial(_raw, runner, enc.ids, layer_rows_per_pass(cfg, enc.ids.shape[1])),
            "naive": partial(_naive, runner, few, specials),
        },
        repeats,
    )
    ours, raw, naive = n / best["ours"], n / best["raw"], len(few) / best["naive"]
    return (
        f"| BERT {layers}x{hidden} | {tokens} | {n} | {ours:,.1f} | {raw:,.1f} | {ours / raw:.2f} "
        f"| {naive:,.1f} | {ours / naive:.1f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = [
        "| model | tokens per text | texts | ours (texts/s) | raw fwd+bwd / n_steps (texts/s) "
        "| ours / raw | naive per-text (texts/s) | ours / naive |",
        "|---|---|---|---|---|---|---|---|",
        bench(32, 2, 32, 128, args.repeats),
        bench(64, 2, 64, 64, args.repeats),
        bench(128, 4, 128, 32, args.repeats),
    ]
    print(
        f"torch {torch.__version__}, threads=1, n_steps={N_STEPS}, batch_size={BATCH}, "
        f"at most {TOKENS_PER_PASS:,} tokens per pass"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
