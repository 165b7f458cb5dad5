"""Text models with a known answer for the identity-term tests.

`TokenScore` is a torch model over token ids whose positive logit is the mean of per-token
weights: a weight on an identity word plants a bias whose size is known, and a model with no
weight on identity words ignores them exactly. `planted_bert_folder` saves a real
`BertForSequenceClassification` whose weights are set by hand to do the same through
attention: its positive score rises with the share of toxic tokens, and, when planted, with
the share of one identity token (and falls with another's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import hadamard
from torch import nn

from audit.checks.base import CheckContext
from audit.testing.hf import raw_text_context, tiny_classifier, word_tokenizer
from audit.tokenization import TextEncoder

NEUTRAL = ["the", "a", "we", "saw", "people", "at", "market", "today", "and", "they", "talked"]
TOXIC = ["awful", "hate", "stupid"]
RELIGION = ["christian", "muslim", "jewish"]


class TokenScore(nn.Module):
    """Logits (0, mean weight of the real tokens): a per-token weight table, padding ignored."""

    def __init__(self, weights: np.ndarray, pad_id: int = 0) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.as_tensor(weights, dtype=torch.float32))
        self.pad_id = pad_id

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        real = (x != self.pad_id).float()
        score = (self.weights[x] * real).sum(1) / real.sum(1).clamp(min=1.0)
        return torch.stack([torch.zeros_like(score), score], dim=1)


def encoder_for(words: Sequence[str]) -> TextEncoder:
    return TextEncoder(word_tokenizer(words, max_length=64), 64, "0" * 64)


def token_context(
    texts: Sequence[str],
    y: Sequence[int],
    weights: Mapping[str, float],
    config: object,
    *,
    words: Sequence[str],
    min_group_size: int = 10,
    seed: int = 0,
    bias: float = -1.0,
) -> CheckContext:
    """A CheckContext over raw `texts` for a TokenScore model with the given word weights
    (every other token weighs 0; the [CLS] token carries `bias`, so a text without weighted
    words scores below 0.5)."""
    encoder = encoder_for(words)
    vocab = encoder._tokenizer.get_vocab()  # the test's own tokenizer
    table = np.zeros(len(vocab))
    table[vocab["[CLS]"]] = bias * 4
    for word, w in weights.items():
        table[vocab[word]] = w
    module = TokenScore(table, encoder.pad_id)
    return raw_text_context(
        module, encoder, texts, y, config, seed=seed, min_group_size=min_group_size
    )


def corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Texts of neutral words; half name a religion term, half hold a toxic word (the label)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        words = list(rng.choice(NEUTRAL, rng.integers(3, 8)))
        toxic = bool(rng.random() < 0.5)
        if toxic:
            words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(TOXIC)))
        if rng.random() < 0.5:
            term = str(rng.choice(RELIGION))
            spelled = term.capitalize() if rng.random() < 0.3 else term
            words.insert(int(rng.integers(len(words) + 1)), spelled)
        texts.append(" ".join(words))
        labels.append(int(toxic))
    return texts, np.array(labels)


def planted_bert_folder(
    folder: Path, words: Sequence[str], planted: Mapping[str, float], toxic: Sequence[str]
) -> Path:
    """A 1-layer BERT whose positive score rises with the share of `toxic` tokens and moves
    with the share of each `planted` word by its weight (0 for all: an identity-blind model).

    Every token embeds to one ±1 Hadamard row (mean 0, variance 1, so LayerNorm keeps it),
    toxic tokens to a second and each planted word to its own; query and key are zero, so
    [CLS] attends uniformly to the real tokens and reads their mean; the feed-forward block
    adds nothing; the pooler projects on the toxic and planted directions.
    """
    tokenizer = word_tokenizer(words, max_length=64)
    vocab = tokenizer.get_vocab()
    hidden = 16
    model = tiny_classifier(len(tokenizer), layers=1, heads=2, hidden=hidden, max_length=64)
    rows = hadamard(hidden).astype(np.float32)
    base, toxic_dir = rows[1], rows[2]
    state = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    embed = np.tile(base, (len(tokenizer), 1))
    for w in toxic:
        embed[vocab[w]] = toxic_dir
    pooler = 30.0 * toxic_dir / hidden
    for j, (word, weight) in enumerate(planted.items(), start=3):
        embed[vocab[word]] = rows[j]
        pooler = pooler + weight * rows[j] / hidden
    state["bert.embeddings.word_embeddings.weight"] = torch.as_tensor(embed)
    eye = torch.eye(hidden)
    layer = "bert.encoder.layer.0."
    state[layer + "attention.self.value.weight"] = eye
    state[layer + "attention.output.dense.weight"] = eye
    for norm in (
        "bert.embeddings.LayerNorm",
        layer + "attention.output.LayerNorm",
        layer + "output.LayerNorm",
    ):
        state[norm + ".weight"] = torch.ones(hidden)
    pool = torch.zeros(hidden, hidden)
    pool[0] = torch.as_tensor(pooler)
    state["bert.pooler.dense.weight"] = pool
    classifier = torch.zeros(2, hidden)
    classifier[1, 0] = 6.0
    state["classifier.weight"] = classifier
    state["classifier.bias"] = torch.tensor([0.0, -3.0])
    if "bert.embeddings.position_ids" in state:
        state["bert.embeddings.position_ids"] = model.state_dict()["bert.embeddings.position_ids"]
    model.load_state_dict(state)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
