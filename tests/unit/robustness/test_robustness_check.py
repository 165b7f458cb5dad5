"""The whole check per modality: metric shape, determinism, evidence, fail-closed inputs."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from robustness_helpers import BagOfWords, Linear, TinyCNN, context, runner

from audit.checks.robustness.adversarial import UPPER_BOUND_NOTE
from audit.checks.robustness.check import TEXT_ADVERSARIAL_NOTE, RobustnessCheck
from audit.errors import DataError
from audit.testing.rows import WorkerLikeRows

FAST = {"sample": 120, "min_flip_sample": 15, "pgd_steps": 3}


def _tabular(seed: int = 0, **config):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=300), rng.normal(size=300) * 5, rng.integers(0, 3, 300)])
    x = x.astype(np.float32)
    w = np.array([1.0, 0.2, 0.5])
    y = (x @ w + rng.normal(scale=0.5, size=300) > 0).astype(np.int64)
    model = runner(Linear(w, 0.0))
    return context(model, x, y, "tabular", ("a", "b", "c"), **{**FAST, **config})


def _image(**config):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((60, 1, 12, 12)).astype(np.float32)
    model = runner(TinyCNN(), task="multiclass", classes=3)
    y = model.decide(model.predict_proba(x))
    y[:10] = (y[:10] + 1) % 3
    return context(model, x, y, "image", **{**FAST, "min_flip_sample": 5, **config})


def _text(**config):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, (80, 12))
    x[::3, 8:] = 0
    model = runner(BagOfWords(), text=True)
    y = model.decide(model.predict_proba(x))
    return context(model, x, y, "text", **{**FAST, **config})


def _keyed(metrics):
    return {(m.name, m.perturbation, m.level, m.method): m for m in metrics}


@pytest.mark.parametrize(
    "build",
    [_tabular, pytest.param(_image, marks=pytest.mark.slow), _text],
    ids=["tabular", "image", "text"],
)
def test_metrics_are_finite_complete_and_deterministic(build) -> None:
    first = RobustnessCheck().measure(build())
    again = RobustnessCheck().measure(build())
    assert first.metrics == again.metrics
    for m in first.metrics:
        assert m.check == "robustness" and math.isfinite(m.value) and m.n
        if m.ci_low is not None:
            assert m.ci_low <= m.value <= m.ci_high
    keyed = _keyed(first.metrics)
    perturbations = {m.perturbation for m in first.metrics if m.level is not None}
    for fam in perturbations:
        for s in range(1, 6):
            for name in ("accuracy", "flip_rate", "accuracy_ratio"):
                assert (name, fam, s, None) in keyed


@pytest.mark.parametrize(
    "build",
    [_tabular, pytest.param(_image, marks=pytest.mark.slow)],
    ids=["tabular", "image"],
)
def test_sharded_work_gives_the_same_metrics(build) -> None:
    """Perturbed predictions, attacks and the min-flip search spread over worker-like shards
    (cut on batch boundaries) give exactly what one process gives."""
    ctx = build(batch_size=32, min_flip_sample=70)  # the min-flip search spans 2+ batches
    whole = RobustnessCheck().measure(ctx)
    rows = WorkerLikeRows(ctx.model, shards=3)
    sharded = RobustnessCheck().measure(replace(ctx, rows=rows))
    sharded_fns = {fn.rpartition(":")[2] for fn, n in rows.calls if n > 1}
    assert {"attack_slice", "min_flip_slice"} <= sharded_fns
    assert {"predict_slice", "corrupt_slice"} & sharded_fns
    assert whole.metrics == sharded.metrics
    assert whole.evidence.epsilon_curve == sharded.evidence.epsilon_curve


def test_tabular_families_adversarial_and_curve() -> None:
    out = RobustnessCheck().measure(_tabular(categorical=["c"]))
    keyed = _keyed(out.metrics)
    assert {"gaussian_noise", "categorical_flip"} <= {m.perturbation for m in out.metrics}
    for key in [("accuracy", "fgsm", None, "Linf"), ("accuracy", "pgd", None, "L2")]:
        assert key in keyed
    assert ("min_flip_epsilon_median", "fgsm", None, "Linf") in keyed
    # PGD is at least as strong as FGSM at the same radius on a linear model
    assert (
        keyed[("accuracy", "pgd", None, "Linf")].value
        <= keyed[("accuracy", "fgsm", None, "Linf")].value
    )
    curve = out.evidence.epsilon_curve
    assert curve.norm == "Linf" and curve.epsilon[0] == 0.0
    assert all(b <= a for a, b in zip(curve.accuracy, curve.accuracy[1:], strict=False))
    assert UPPER_BOUND_NOTE in out.evidence.notes
    assert out.evidence.columns == ("a", "b", "c")
    assert out.evidence.flips
    for r in out.evidence.flips:
        assert r.pred != r.pred_after and len(r.before) == 3


def test_flip_rate_grows_with_noise_level() -> None:
    out = RobustnessCheck().measure(_tabular(sample=300, adversarial=False))
    rates = [
        m.value for m in out.metrics if m.name == "flip_rate" and m.perturbation == "gaussian_noise"
    ]
    assert rates[0] <= rates[-1] and rates[-1] > 0


def test_min_flip_median_matches_the_linear_radius_in_sigma_units() -> None:
    ctx = _tabular(adversarial=True, sample=40, min_flip_sample=40, min_flip_step=0.005)
    out = RobustnessCheck().measure(ctx)
    median = _keyed(out.metrics)[("min_flip_epsilon_median", "fgsm", None, "Linf")].value
    # the check draws its own 40 rows: the median must sit well inside the population's spread
    w, sigma = np.array([1.0, 0.2, 0.5]), ctx.data.x.std(axis=0)
    exact = np.abs(ctx.data.x.astype(np.float64) @ w) / np.abs(w * sigma).sum()
    assert np.quantile(exact, 0.2) < median < np.quantile(exact, 0.8)


@pytest.mark.slow
def test_image_corruption_aggregates_and_examples() -> None:
    out = RobustnessCheck().measure(_image())
    keyed = _keyed(out.metrics)
    assert ("mean_corruption_error", None, None, None) in keyed
    assert ("relative_corruption_error", "jpeg", None, None) in keyed
    for ex in out.evidence.flips:
        assert ex.before.shape == ex.after.shape == (1, 12, 12)
        assert ex.pred != ex.pred_after
    assert ("accuracy", "pgd", None, "Linf") in keyed


def test_text_reports_invariance_and_skips_attacks_with_a_note() -> None:
    out = RobustnessCheck().measure(_text())
    names = {m.name for m in out.metrics}
    assert "invariance_failure_rate" in names
    assert not {m.perturbation for m in out.metrics} & {"fgsm", "pgd"}
    assert TEXT_ADVERSARIAL_NOTE in out.evidence.notes
    assert {"token_drop", "adjacent_swap", "neutral_insert"} <= {
        m.perturbation for m in out.metrics
    }


def test_changing_the_seed_changes_the_noise_draw() -> None:
    a = RobustnessCheck().measure(_tabular(adversarial=False))
    b = RobustnessCheck().measure(replace(_tabular(adversarial=False), seed=5))
    assert a.metrics != b.metrics


def test_unknown_modality_is_a_typed_error() -> None:
    ctx = _tabular()
    with pytest.raises(DataError):
        RobustnessCheck().measure(replace(ctx, data=replace(ctx.data, modality="audio")))
