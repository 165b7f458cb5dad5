"""Tiny seeded models and a context builder for the spurious check's tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from audit.checks.base import CheckContext, Predictions
from audit.checks.spurious.spec import SpuriousSpec
from audit.loaders.data import Dataset
from audit.loaders.model import ModelRunner


def logistic(x: np.ndarray, y: np.ndarray) -> nn.Module:
    """A torch Linear(F, 2) holding a fitted sklearn logistic regression (milliseconds)."""
    fit = LogisticRegression(max_iter=1000).fit(x.reshape(len(x), -1), y)
    w = np.vstack([-fit.coef_[0] / 2, fit.coef_[0] / 2])
    b = np.array([-fit.intercept_[0] / 2, fit.intercept_[0] / 2])
    layer = nn.Linear(w.shape[1], 2)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
        layer.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
    return nn.Sequential(nn.Flatten(), layer) if x.ndim > 2 else nn.Sequential(layer)


def context(
    module: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    modality: str = "tabular",
    names: tuple[str, ...] = (),
    seed: int = 0,
    **config: Any,
) -> CheckContext:
    dtype = torch.int64 if modality == "text" else torch.float32
    runner = ModelRunner(
        module=module.eval(),
        task="binary",
        output="logits",
        decision_threshold=0.5,
        device="cpu",
        input_dtype=dtype,
    )
    for p in module.parameters():
        p.requires_grad_(False)
    proba = runner.predict_proba(x)
    data = Dataset(
        x=x,
        y=y,
        sensitive=pd.DataFrame(index=range(len(y))),
        modality=modality,
        feature_names=names,
        classes=(0, 1),
    )
    return CheckContext(
        model=runner,
        data=data,
        predictions=Predictions(proba, runner.decide(proba)),
        config=SpuriousSpec.model_validate(config),
        seed=seed,
    )


def tabular_task(seed: int, shortcut: bool, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Two real signals and a binary `tag`; with `shortcut` the tag equals the label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    x[:, 2] = y if shortcut else rng.integers(0, 2, n)
    return x, y


NAMES = ("signal", "weak", "tag")


@pytest.fixture
def tiny() -> SimpleNamespace:
    """The helpers above, for tests (a fixture, so no test imports conftest by name)."""
    return SimpleNamespace(
        context=context, logistic=logistic, tabular_task=tabular_task, names=NAMES
    )
