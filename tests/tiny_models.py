"""Tiny seeded models with known answers, shared by the tests (importable as factories)."""

from __future__ import annotations

import torch
from torch import nn

from audit.demo.reviews import VOCAB


class Linear(nn.Module):
    """z = w·x + b, one logit: exact attributions and an exact minimum flip."""

    def __init__(self, w: list[float] | None = None, b: float = 0.0):
        super().__init__()
        w = w if w is not None else [1.0, -2.0, 0.5]
        self.linear = nn.Linear(len(w), 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([w]))
            self.linear.bias.fill_(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class ConstantOutput(nn.Module):
    """Returns a fixed-width output regardless of the input, for shape checks."""

    def __init__(self, width: int = 3, value: float = 0.0):
        super().__init__()
        self.width, self.value = width, value
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], self.width), self.value) + self.anchor


def linear() -> nn.Module:
    return Linear()


def three_outputs() -> nn.Module:
    return ConstantOutput(3)


def nan_outputs() -> nn.Module:
    return ConstantOutput(1, float("nan"))


class TokenMean(nn.Module):
    """Token embeddings averaged over the non-pad positions, then a linear head: the text
    demo's `BagClassifier` with an `nn.Embedding` in place of its `EmbeddingBag`.

    The state dict keys are the same (`embed.weight`, `head.*`), so the demo's weights load
    into it and give the same logits; unlike the bag, the embedding has a per-token output, so
    the spurious check's default for a factory text model, LayerIntegratedGradients, hooks it.
    The pad mask is computed from the input ids, beside the embedding's output, the way a
    Hugging Face model adds position embeddings: an embedding output of another batch size
    does not fit it.
    """

    def __init__(self, vocab: int = len(VOCAB), dim: int = 16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.head = nn.Linear(dim, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = (x != 0).unsqueeze(-1).to(self.head.weight.dtype)
        pooled = (self.embed(x) * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)


def token_mean() -> nn.Module:
    return TokenMean()
