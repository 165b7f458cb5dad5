"""Tiny seeded models with known answers, shared by the tests (importable as factories)."""

from __future__ import annotations

import torch
from torch import nn


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
