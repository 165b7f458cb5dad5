"""Tiny seeded models with known answers for the robustness tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from audit.checks.base import CheckContext, Predictions
from audit.checks.robustness.spec import RobustnessSpec
from audit.loaders.data import Dataset
from audit.loaders.model import ModelRunner


class Linear(nn.Module):
    """z = w·x + b as one logit: a binary classifier with exact flip thresholds."""

    def __init__(self, w: np.ndarray, b: float) -> None:
        super().__init__()
        self.lin = nn.Linear(len(w), 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.as_tensor(w, dtype=torch.float32)[None, :])
            self.lin.bias.fill_(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


class TinyCNN(nn.Module):
    def __init__(self, channels: int = 1, classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.head = nn.Linear(4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class BagOfWords(nn.Module):
    def __init__(self, vocab: int = 50, pad: int = 0) -> None:
        super().__init__()
        self.emb = nn.EmbeddingBag(vocab, 2, mode="mean", padding_idx=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.emb(x)


def runner(module: nn.Module, task: str = "binary", classes: int = 2, text: bool = False):
    for p in module.parameters():
        p.requires_grad_(False)
    return ModelRunner(
        module=module.eval(),
        task=task,
        output="logits",
        decision_threshold=0.5,
        device="cpu",
        n_classes=classes,
        input_dtype=torch.int64 if text else torch.float32,
    )


def context(
    model: ModelRunner,
    x: np.ndarray,
    y: np.ndarray,
    modality: str,
    features: tuple[str, ...] = (),
    seed: int = 0,
    **config,
) -> CheckContext:
    data = Dataset(
        x=x,
        y=y,
        sensitive=pd.DataFrame(index=range(len(y))),
        modality=modality,
        feature_names=features,
        classes=tuple(sorted(set(y.tolist()))),
    )
    proba = model.predict_proba(x)
    return CheckContext(
        model=model,
        data=data,
        predictions=Predictions(proba=proba, label=model.decide(proba)),
        config=RobustnessSpec(**config),
        seed=seed,
    )


def linear_case(d: int = 5, seed: int = 0) -> tuple[np.ndarray, float, ModelRunner]:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    b = 0.3
    return w, b, runner(Linear(w, b))
