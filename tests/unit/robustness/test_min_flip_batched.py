"""The batched minimum-flip search against captum's per-example search and a known answer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from robustness_helpers import TinyCNN, captum_min_flip, context, runner
from tiny_models import Linear

from audit.checks.robustness.adversarial import AttackSpace, min_flip_epsilons, min_flip_slice
from audit.checks.robustness.image import attack_space
from audit.testing.rows import WorkerLikeRows


def _agree(batched: np.ndarray, reference: np.ndarray, step: float) -> None:
    """Same ε per example to within the search step; never flipped in the same places."""
    np.testing.assert_array_equal(np.isnan(batched), np.isnan(reference))
    both = ~np.isnan(batched)
    assert np.all(np.abs(batched[both] - reference[both]) <= step * (1 + 1e-6))


def _linear_rows(seed: int, n: int):
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=5), 0.3
    model = runner(Linear(w.tolist(), b))
    x = torch.as_tensor(rng.normal(size=(n, len(w))), dtype=torch.float32)
    z = x.double().numpy() @ w + b
    pred = torch.as_tensor(model.decide(model.predict_proba(x.numpy())))
    return w, z, model, x, pred


def test_linear_model_gets_the_exact_linf_radius_and_captums_answer() -> None:
    """Minimum L∞ flip of z = w·x + b is |z| / ‖w‖₁: the search lands on the first grid
    point at or past it, as captum's search does."""
    w, z, model, x, pred = _linear_rows(seed=7, n=80)
    step, eps_max = 0.01, 1.0
    space = AttackSpace.identity(x)
    found = min_flip_epsilons(
        model, space, x, pred, norm="Linf", eps_max=eps_max, step=step, batch_size=32
    )
    exact = np.abs(z) / np.abs(w).sum()
    inside = exact < eps_max - step
    assert inside.sum() > 30
    assert np.all(found[inside] >= exact[inside] - 1e-5)
    assert np.all(found[inside] <= exact[inside] + step + 1e-5)
    assert np.isnan(found[exact > eps_max + 1e-5]).all()  # censored, not invented
    reference = captum_min_flip(model, space, x, pred, norm="Linf", eps_max=eps_max, step=step)
    _agree(found, reference, step)


def _split_cnn(x: np.ndarray):
    """The tiny CNN with its class biases set so that its decisions split across the data
    (untrained, it gives one class everywhere, which no attack in the value range flips)."""
    torch.manual_seed(0)
    module = TinyCNN()
    with torch.no_grad():
        module.head.bias.sub_(module(torch.as_tensor(x)).median(dim=0).values)
    model = runner(module, task="multiclass", classes=3)
    return model, model.decide(model.predict_proba(x))


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_tiny_cnn_matches_captums_per_example_search(norm: str) -> None:
    x = np.random.default_rng(0).random((40, 1, 8, 8)).astype(np.float32)
    model, pred = _split_cnn(x)
    space = attack_space((0.0, 1.0), torch.as_tensor(x[:1]))  # the value range: clamps matter
    u = space.from_input(torch.as_tensor(x))
    step, eps_max = (0.002, 0.5) if norm == "Linf" else (0.01, 1.0)
    kw = {"norm": norm, "eps_max": eps_max, "step": step, "pgd_steps": 4}
    found = min_flip_epsilons(model, space, u, torch.as_tensor(pred), batch_size=16, **kw)
    reference = captum_min_flip(model, space, u, torch.as_tensor(pred), **kw)
    assert (~np.isnan(reference)).sum() > 30  # most examples flip inside the search
    assert len(np.unique(reference)) > 10  # and at many different radii
    _agree(found, reference, step)


def test_one_and_three_shards_give_identical_epsilons() -> None:
    x = np.random.default_rng(0).random((60, 1, 8, 8)).astype(np.float32)
    model, y = _split_cnn(x)
    ctx = context(model, x, y, "image", sample=60, pgd_steps=2, batch_size=16)
    space = attack_space((0.0, 1.0), torch.as_tensor(x[:1]))
    kwargs = {"space": space, "norm": "Linf", "eps_max": 0.5, "step": 0.01, "pgd_steps": 2}
    kwargs["batch_size"] = 16
    arrays = {"x": x[:48], "target": y[:48]}

    def search(c):
        parts = c.map_rows(min_flip_slice, 48, align=16, kwargs=kwargs, arrays=arrays)
        return np.concatenate(parts)

    rows = WorkerLikeRows(ctx.model, shards=3)
    whole, sharded = search(ctx), search(replace(ctx, rows=rows))
    assert rows.calls == [("audit.checks.robustness.adversarial:min_flip_slice", 3)]
    assert (~np.isnan(whole)).sum() > 20
    np.testing.assert_array_equal(whole, sharded)


def test_non_monotone_flips_get_captums_epsilon_exactly() -> None:
    """On the demo CNN (seed 1) PGD flips some examples at a radius but not at a larger one;
    a bisection on other midpoints ended more than a step away from captum's on 12 of 100.
    Same midpoints, same arithmetic: the same ε."""
    from audit.demo.image import DigitCNN

    torch.manual_seed(1)
    model = runner(DigitCNN())
    x = torch.as_tensor(np.random.default_rng(1).random((100, 1, 8, 8)), dtype=torch.float32)
    pred = torch.as_tensor(model.decide(model.predict_proba(x.numpy())))
    space = attack_space((0.0, 1.0), x[:1])
    kw = {"norm": "L2", "eps_max": 3.0, "step": 0.05, "pgd_steps": 10}
    found = min_flip_epsilons(model, space, space.from_input(x), pred, batch_size=64, **kw)
    reference = captum_min_flip(model, space, space.from_input(x), pred, **kw)
    assert (~np.isnan(reference)).sum() > 20
    np.testing.assert_array_equal(found, reference)
