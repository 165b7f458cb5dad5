"""Known answers for the spurious check.

- A linear model: integrated gradients = w * (x - baseline) to 1e-5, saliency = |w|, and
  DeepLift (on the logits) the same as IG.
- A model trained with a planted shortcut is flagged (the counterfactual flip-rate excess has
  its lower CI bound well above the policy margin) and its control is not, over several seeds.
- The false-flag rate on control models over 20 seeds stays within alpha + 2 SE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from audit.checks.base import CheckContext, Predictions
from audit.checks.spurious.attribution import MethodConfig, attribute_rows
from audit.checks.spurious.check import SpuriousCheck
from audit.checks.spurious.spec import SpuriousSpec
from audit.loaders.data import Dataset
from audit.loaders.model import ModelRunner

MARGIN = 0.10  # SPUR-001 in policies/default.yaml: flip_rate_excess ci_low <= 0.10
W = torch.tensor([[0.5, -1.0, 2.0, 0.0], [1.5, -2.0, 0.25, 3.0]])


def _runner(module: nn.Module, output: str = "logits") -> ModelRunner:
    for p in module.parameters():
        p.requires_grad_(False)
    return ModelRunner(
        module=module.eval(),
        task="multiclass" if output == "probabilities" else "binary",
        output=output,
        decision_threshold=0.5,
        device="cpu",
    )


def _linear() -> nn.Module:
    layer = nn.Linear(4, 2)
    with torch.no_grad():
        layer.weight.copy_(W)
        layer.bias.copy_(torch.tensor([0.1, -0.2]))
    return layer


def _rows(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)


@pytest.mark.parametrize("target", [0, 1])
def test_integrated_gradients_of_a_linear_model(target: int) -> None:
    # `output: probabilities` passes the module's output through untouched, so the attributed
    # function is exactly linear and IG has a closed form.
    runner = _runner(_linear(), output="probabilities")
    x, base = _rows()
    cfg = MethodConfig(method="integrated_gradients", baseline=base, n_steps=8, batch_size=7)
    out = attribute_rows(runner, x, np.full(len(x), target), cfg)
    expected = W[target].numpy() * (x - base)
    np.testing.assert_allclose(out.values, expected, atol=1e-5)
    assert np.abs(out.delta).max() < 1e-5


@pytest.mark.parametrize("target", [0, 1])
def test_saliency_of_a_linear_model_is_the_absolute_weight(target: int) -> None:
    runner = _runner(_linear(), output="probabilities")
    x, base = _rows()
    out = attribute_rows(
        runner, x, np.full(len(x), target), MethodConfig(method="saliency", baseline=base)
    )
    np.testing.assert_allclose(
        out.values, np.broadcast_to(np.abs(W[target].numpy()), x.shape), atol=1e-6
    )


def test_deeplift_on_linear_logits_equals_the_closed_form() -> None:
    runner = _runner(_linear())
    x, base = _rows()
    out = attribute_rows(
        runner, x, np.ones(len(x), int), MethodConfig(method="deeplift", baseline=base)
    )
    # DeepLift's default baseline is zero
    np.testing.assert_allclose(out.values, W[1].numpy() * x, atol=1e-5)


# ------------------------------------------------------------ planted shortcut vs control


def _task(seed: int, shortcut: bool, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """6x6 images; the label is the centre's brightness, or (shortcut) a bright corner tag."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.5, (n, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 2, n)
    if shortcut:
        x[y == 1, :, :2, :2] = 1.0
    else:
        x[:, 0, 2:4, 2:4] += np.where(y, 0.4, 0.0)[:, None, None]
        x[rng.random(n) < 0.5, :, :2, :2] = 1.0
    return x, y


def _fit(x: np.ndarray, y: np.ndarray) -> nn.Module:
    fit = LogisticRegression(max_iter=2000).fit(x.reshape(len(x), -1), y)
    layer = nn.Linear(x[0].size, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(fit.coef_, dtype=torch.float32))
        layer.bias.copy_(torch.as_tensor(fit.intercept_, dtype=torch.float32))
    return nn.Sequential(nn.Flatten(), layer)


def _excess(seed: int, shortcut: bool) -> float:
    x, y = _task(seed, shortcut)
    runner = _runner(_fit(x, y))
    proba = runner.predict_proba(x)
    ctx = CheckContext(
        model=runner,
        data=Dataset(x=x, y=y, sensitive=pd.DataFrame(index=range(len(y))), modality="image"),
        predictions=Predictions(proba, runner.decide(proba)),
        config=SpuriousSpec(
            probes=[{"type": "patch", "region": [0, 0, 2, 2], "value": 1.0}],
            method="saliency",
            sample=150,
            n_boot=200,
        ),
        seed=seed,
    )
    out = SpuriousCheck().measure(ctx)
    (m,) = [m for m in out.metrics if m.name == "flip_rate_excess" and m.perturbation == "insert"]
    return m.ci_low


@pytest.mark.parametrize("seed", range(3))
def test_planted_shortcut_is_flagged_and_its_control_is_not(seed: int) -> None:
    assert _excess(seed, shortcut=True) > MARGIN + 0.3
    assert _excess(seed, shortcut=False) <= MARGIN


@pytest.mark.slow
def test_false_flag_rate_on_controls_over_20_seeds() -> None:
    seeds = 20
    flags = sum(_excess(100 + s, shortcut=False) > MARGIN for s in range(seeds))
    alpha = 0.05
    assert flags / seeds <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / seeds)
