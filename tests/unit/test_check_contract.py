"""One contract suite for every registered check (in the spirit of sklearn's test_common)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from audit.checks.base import CheckContext, CheckOutput, Predictions
from audit.checks.spurious.spec import FeatureProbe, SpuriousSpec
from audit.loaders.data import Dataset
from audit.loaders.model import ModelRunner
from audit.records import Metric
from audit.registry import check_names, plugin
from audit.spec import ChecksSpec


class _Mlp(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _context(check: str, seed: int = 0) -> CheckContext:
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(np.int64)
    sensitive = pd.DataFrame(
        {"sex": rng.choice(["F", "M"], n), "age_band": rng.choice(["<30", "30-50", ">50"], n)}
    )
    data = Dataset(
        x=x,
        y=y,
        sensitive=sensitive,
        modality="tabular",
        feature_names=("a", "b", "c", "d"),
        classes=(0, 1),
    )
    module = _Mlp().eval()
    runner = ModelRunner(
        module=module, task="binary", output="logits", decision_threshold=0.5, device="cpu"
    )
    proba = runner.predict_proba(x)
    config = getattr(ChecksSpec(), check)
    if check == "spurious":
        config = SpuriousSpec(
            probes=[FeatureProbe(type="feature", feature="d")], sample=100, n_boot=50
        )
    elif check == "robustness":
        config = config.model_copy(update={"sample": 100, "min_flip_sample": 5})
    elif check == "bias":
        config = config.model_copy(update={"n_boot": 50})
    return CheckContext(
        model=runner,
        data=data,
        predictions=Predictions(proba=proba, label=runner.decide(proba)),
        config=config,
        seed=seed,
    )


@pytest.fixture(scope="module", params=check_names())
def measured(request) -> tuple[str, CheckOutput]:
    return request.param, plugin(request.param).measure(_context(request.param))


def test_has_docstring_and_display_name(measured):
    name, _ = measured
    check = plugin(name)
    assert check.name == name
    assert isinstance(check.title, str) and check.title
    assert inspect.getdoc(type(check))


def test_emits_only_finite_metrics_of_its_own_check(measured):
    name, output = measured
    assert output.metrics, f"{name} measured nothing"
    for m in output.metrics:
        assert isinstance(m, Metric) and m.check == name
        assert np.isfinite(m.value)
        if m.ci_low is not None:
            assert m.ci_high is not None and m.ci_low <= m.ci_high


def test_every_metric_name_is_known_to_the_policy_linter(measured):
    """Rules can only be written for names `audit policy lint` accepts."""
    from audit.registry import known_metrics

    name, output = measured
    unknown = {m.name for m in output.metrics} - known_metrics()[name]
    assert not unknown, f"{name} emits metrics the linter rejects: {sorted(unknown)}"


def test_deterministic_under_a_seed(measured):
    name, output = measured
    again = plugin(name).measure(_context(name))
    assert again.metrics == output.metrics


def test_measures_but_never_judges():
    """No check module imports the policy, the report, signing or the flows."""
    root = Path(__file__).resolve().parents[2] / "audit" / "checks"
    forbidden = ("audit.policy", "audit.report", "audit.signing", "flows")
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert not n.startswith(forbidden), f"{path} imports {n}"
