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


def captum_min_flip(
    model: ModelRunner,
    space,
    u: torch.Tensor,
    target: torch.Tensor,
    *,
    norm: str,
    eps_max: float,
    step: float,
    pgd_steps: int = 10,
) -> np.ndarray:
    """The per-example search the batched one replaced: captum's MinParamPerturbation in
    binary mode, one example per call (its correctness judges a whole batch at once)."""
    from captum.robust import MinParamPerturbation

    from audit.checks.robustness.adversarial import fgsm, pgd

    def still_right(model_out: torch.Tensor, target: torch.Tensor) -> bool:
        decided = model.decide(model_out.detach().cpu().double().numpy())
        return bool((decided == target.cpu().numpy()).all())

    def attack(inputs: torch.Tensor, target: torch.Tensor, epsilon: float) -> torch.Tensor:
        if epsilon == 0:
            return inputs
        if norm == "Linf":
            return fgsm(model, space, inputs, target, epsilon)
        return pgd(model, space, inputs, target, epsilon, "L2", pgd_steps)

    search = MinParamPerturbation(
        forward_func=lambda v: model.scores(space.to_input(v)),
        attack=attack,
        arg_name="epsilon",
        arg_min=0.0,
        arg_max=eps_max + step,
        arg_step=step,
        mode="binary",
        correct_fn=still_right,
    )
    out = np.full(len(u), np.nan)
    for i in range(len(u)):
        t = target[i : i + 1]
        _, eps = search.evaluate(u[i : i + 1], target=t, attack_kwargs={"target": t})
        if eps is not None:
            out[i] = eps
    return out
