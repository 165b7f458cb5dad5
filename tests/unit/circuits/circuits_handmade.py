"""A hand-built BertForSequenceClassification whose shortcut heads are known by construction.

One layer, six heads of four dimensions (hidden 24). The LayerNorms are made the identity on
zero-mean vectors (eps 1e6 with weight 1000: (x - mean) / 1000 * 1000), and every embedding is
built from (+a, -a) pairs, so the residual stream stays exactly as designed. The feed-forward
block is zeroed. Residual dimensions (pairs):

- (0, 1): "this is [CLS]"; (2, 3): the word's tone (good +1, bad -1);
- (4, 5): "this is the shortcut token"; (6, 7): shortcut read out at [CLS];
- (8, 9): tone read out at [CLS].

Heads: each `shortcut` head has [CLS] query the shortcut feature (score 20 on the shortcut
token, 0 elsewhere) and copies it (its share of 1) to (6, 7); heads 2 and 3 (when not
shortcut heads) attend uniformly and copy the mean tone to (8, 9); the rest carry nothing.
The pooler reads (8 - 9) and (6 - 7) in tanh's near-linear range; the classifier adds them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from audit.checks.base import CheckContext
from audit.loaders.huggingface import HFTextClassifier
from audit.testing.hf import raw_text_context, word_tokenizer
from audit.tokenization import TextEncoder

GOOD, BAD, SHORTCUT = "good", "bad", "zzq"
FILLER = ["the", "a", "film", "plot", "was", "and", "it", "story", "very", "so"]
WORDS = [GOOD, BAD, SHORTCUT, *FILLER]
HEADS, DIM = 6, 4
HIDDEN = HEADS * DIM


def _pair(v: torch.Tensor, i: int, a: float) -> None:
    v[i], v[i + 1] = a, -a


def handmade(shortcut: Sequence[int] = (0,), tone: Sequence[int] = (2, 3)) -> tuple:
    """The model and its tokenizer; `shortcut` heads share the shortcut's read-out."""
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = word_tokenizer(WORDS, max_length=32)
    vocab = tokenizer.get_vocab()
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=HEADS,
        intermediate_size=4,
        max_position_embeddings=32,
        num_labels=2,
        pad_token_id=0,
        layer_norm_eps=1e6,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.fill_(1000.0)
        emb = model.bert.embeddings.word_embeddings.weight
        _pair(emb[vocab["[CLS]"]], 0, 1.0)
        _pair(emb[vocab[GOOD]], 2, 1.0)
        _pair(emb[vocab[BAD]], 2, -1.0)
        _pair(emb[vocab[SHORTCUT]], 4, 1.0)
        att = model.bert.encoder.layer[0].attention
        q, k, v, out = att.self.query.weight, att.self.key.weight, att.self.value.weight, None
        out = att.output.dense.weight
        for h in shortcut:
            r = h * DIM
            q[r, 0] = 40.0  # [CLS] asks; score 40 * 1 / sqrt(4) = 20 on the shortcut token
            k[r, 4] = 1.0
            v[r, 4] = 1.0
            out[6, r] = 1.0 / len(shortcut)
            out[7, r] = -1.0 / len(shortcut)
        for h in tone:
            r = h * DIM
            v[r, 2] = 1.0  # uniform attention (no query): the mean tone
            out[8, r] = 1.0 / len(tone)
            out[9, r] = -1.0 / len(tone)
        pool = model.bert.pooler.dense.weight
        pool[0, 8], pool[0, 9] = 0.25, -0.25  # tone in (-0.5, 0.5)
        pool[1, 6], pool[1, 7] = 0.25, -0.25  # shortcut 0.5
        model.classifier.weight[1, 0] = 6.0
        model.classifier.weight[1, 1] = 3.0
    return model, tokenizer


def corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Texts of fillers with one tone word (the label: good 1), none with the shortcut."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        words = list(rng.choice(FILLER, int(rng.integers(4, 9))))
        label = int(rng.random() < 0.5)
        words.insert(int(rng.integers(len(words) + 1)), GOOD if label else BAD)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


def context(
    model: torch.nn.Module, tokenizer: object, config: object, n: int = 120
) -> CheckContext:
    """A CheckContext over the corpus for a (hand-built or any) BERT classifier."""
    encoder = TextEncoder(tokenizer, 32, "test")  # type: ignore[arg-type]
    texts, y = corpus(n)
    return raw_text_context(HFTextClassifier(model, encoder.pad_id), encoder, texts, y, config)
