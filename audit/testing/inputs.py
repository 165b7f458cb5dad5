"""Tiny seeded inputs for the contract suite: one small model and dataset per modality and task.

They are built in milliseconds on the CPU and are deliberately unremarkable (the suite checks
what every check must honour on any input, not what it finds), but each carries the structure
checks need: sensitive groups, a label that depends on the input, and for images and text a
spot where a probe can put an artifact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel
from torch import nn

from audit.checks.base import CheckContext, Predictions
from audit.loaders.data import Dataset
from audit.loaders.model import ModelRunner
from audit.streams import stream
from audit.tokenization import TextEncoder

MODALITIES: tuple[str, ...] = ("tabular", "image", "text")
TASKS: tuple[str, ...] = ("binary", "multiclass")

N_ROWS = 240
TABULAR_FEATURES = ("a", "b", "c", "d")
IMAGE_SHAPE = (1, 8, 8)
TEXT_LENGTH, VOCAB = 12, 24
PAD_ID = 0


class TabularNet(nn.Module):
    """Linear → ReLU → Linear on four features."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(x)  # nn.Module calls are typed Any
        return logits


class ImageNet(nn.Module):
    """One 3x3 convolution, pooled, then a linear head: enough for gradients and corruptions."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4 * 4 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.relu(self.conv(x))
        z = nn.functional.max_pool2d(z, 2)
        logits: torch.Tensor = self.head(z.flatten(1))
        return logits


class TextNet(nn.Module):
    """Mean of token embeddings over non-padding positions, then a linear head."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 8, padding_idx=PAD_ID)
        self.head = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x != PAD_ID).unsqueeze(-1).float()
        z = (self.embed(x) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits: torch.Tensor = self.head(z)
        return logits


@dataclass(frozen=True)
class Inputs:
    """A model and its data for one modality and task."""

    modality: str
    task: str
    runner: ModelRunner
    data: Dataset

    @property
    def label(self) -> str:
        return f"{self.modality}-{self.task}"

    def context(
        self, config: BaseModel, *, seed: int = 0, confidence: float = 0.95
    ) -> CheckContext:
        proba = self.runner.predict_proba(self.data.x)
        return CheckContext(
            model=self.runner,
            data=self.data,
            predictions=Predictions(proba=proba, label=self.runner.decide(proba)),
            config=config,
            seed=seed,
            confidence=confidence,
            min_group_size=10,
        )


def _features(modality: str, rng: np.random.Generator) -> np.ndarray:
    if modality == "tabular":
        return rng.normal(size=(N_ROWS, len(TABULAR_FEATURES))).astype(np.float32)
    if modality == "image":
        return rng.uniform(0.0, 0.6, size=(N_ROWS, *IMAGE_SHAPE)).astype(np.float32)
    lengths = rng.integers(4, TEXT_LENGTH + 1, N_ROWS)
    x = rng.integers(2, VOCAB, size=(N_ROWS, TEXT_LENGTH)).astype(np.int64)
    x[np.arange(TEXT_LENGTH)[None, :] >= lengths[:, None]] = PAD_ID
    return x


def _text_view(x: np.ndarray) -> tuple[tuple[str, ...], TextEncoder]:
    """The token ids as raw text (id i is the word `wi`) and a tokenizer that encodes those
    texts back to exactly `x`, so checks that read raw text (`Dataset.texts`) meet the same
    rows as checks that read ids. Words it does not know become `[UNK]` (id 1)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": PAD_ID, "[UNK]": 1, **{f"w{i}": i for i in range(2, VOCAB)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", model_max_length=64
    )
    texts = tuple(" ".join(f"w{i}" for i in row[row != PAD_ID]) for row in x)
    encoder = TextEncoder(fast, 64, "0" * 64)
    assert np.array_equal(encoder.encode(texts).ids, x), "the contract's text view drifted"
    return texts, encoder


def _signal(modality: str, x: np.ndarray) -> np.ndarray:
    """A per-row score the label follows, so the model has something real to learn."""
    score: np.ndarray  # numpy types arithmetic on slices of an ndarray as Any
    if modality == "tabular":
        score = x[:, 0] + 0.5 * x[:, 1]
    elif modality == "image":
        score = x[:, 0, 2:6, 2:6].mean(axis=(1, 2))
    else:
        score = ((x >= VOCAB // 2) & (x != PAD_ID)).sum(axis=1) / (x != PAD_ID).sum(axis=1)
    return score


def _train(module: nn.Module, x: np.ndarray, y: np.ndarray, dtype: torch.dtype) -> nn.Module:
    """A few full-batch Adam steps: a fitted, deterministic model in milliseconds."""
    torch.manual_seed(0)
    for p in module.parameters():
        nn.init.normal_(p, std=0.3)
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    xt, yt = torch.as_tensor(x, dtype=dtype), torch.as_tensor(y)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(module(xt), yt).backward()
        opt.step()
    return module.eval()


def make_inputs(modality: str, task: str) -> Inputs:
    """The seeded model and data for `modality` × `task` (same call, same inputs)."""
    rng = stream(0, "audit.testing", modality, task)
    classes = 2 if task == "binary" else 3
    x = _features(modality, rng)
    score = _signal(modality, x) + rng.normal(scale=0.1, size=N_ROWS)
    cuts = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    y = np.searchsorted(cuts, score).astype(np.int64)
    module = {"tabular": TabularNet, "image": ImageNet, "text": TextNet}[modality](classes)
    dtype = torch.int64 if modality == "text" else torch.float32
    module = _train(module, x, y, dtype)
    for p in module.parameters():
        p.requires_grad_(False)
    runner = ModelRunner(
        module=module,
        task=task,
        output="logits",
        decision_threshold=0.5,
        device="cpu",
        n_classes=classes,
        input_dtype=dtype,
    )
    sensitive = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], N_ROWS),
            "age_band": rng.choice(["<30", "30-50", ">50"], N_ROWS),
        }
    )
    texts, encoder = _text_view(x) if modality == "text" else (None, None)
    data = Dataset(
        x=x,
        y=y,
        sensitive=sensitive,
        modality=modality,
        feature_names=TABULAR_FEATURES if modality == "tabular" else (),
        pad_id=PAD_ID,
        classes=tuple(range(classes)),
        texts=texts,
        encoder=encoder,
    )
    return Inputs(modality=modality, task=task, runner=runner, data=data)


__all__ = ["MODALITIES", "TASKS", "ImageNet", "Inputs", "TabularNet", "TextNet", "make_inputs"]
