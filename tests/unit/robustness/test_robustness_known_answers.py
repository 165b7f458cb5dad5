"""Known answers on a linear logit z = w·x + b: exact L∞ flip radius and Gaussian flip rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from robustness_helpers import linear_case
from scipy import stats

from audit.checks.robustness.adversarial import (
    AttackSpace,
    fgsm,
    min_flip_epsilons,
    pgd,
)
from audit.checks.robustness.tabular import FeatureRoles, gaussian_noise


def _rows(w: np.ndarray, b: float, n: int, seed: int = 1) -> tuple[torch.Tensor, np.ndarray]:
    x = np.random.default_rng(seed).normal(size=(n, len(w))).astype(np.float32)
    z = x.astype(np.float64) @ w + b
    return torch.as_tensor(x), z


def _decide(model, x: torch.Tensor) -> np.ndarray:
    return model.decide(model.predict_proba(x.numpy()))


@pytest.mark.parametrize("eps", [0.05, 0.2, 0.5])
def test_fgsm_flips_exactly_beyond_abs_z_over_l1_norm(eps: float) -> None:
    w, b, model = linear_case()
    x, z = _rows(w, b, 400)
    pred = _decide(model, x)
    threshold = np.abs(z) / np.abs(w).sum()
    clear = np.abs(threshold - eps) > 1e-3  # float32 rounding decides the boundary cases
    adv = fgsm(model, AttackSpace.identity(x), x, torch.as_tensor(pred), eps)
    flipped = _decide(model, adv) != pred
    assert clear.sum() > 300
    np.testing.assert_array_equal(flipped[clear], (threshold < eps)[clear])
    assert np.allclose((adv - x).abs().numpy(), eps, atol=1e-5)  # a full L∞ step


def test_pgd_linf_on_a_linear_model_matches_the_exact_radius() -> None:
    w, b, model = linear_case(seed=3)
    x, z = _rows(w, b, 300, seed=4)
    pred = _decide(model, x)
    eps = 0.3
    threshold = np.abs(z) / np.abs(w).sum()
    clear = np.abs(threshold - eps) > 1e-3
    adv = pgd(model, AttackSpace.identity(x), x, torch.as_tensor(pred), eps, "Linf", 10)
    assert (adv - x).abs().max() <= eps + 1e-6
    flipped = _decide(model, adv) != pred
    np.testing.assert_array_equal(flipped[clear], (threshold < eps)[clear])


def test_pgd_l2_stays_in_the_ball_and_never_beats_the_exact_l2_radius() -> None:
    w, b, model = linear_case(seed=5)
    x, z = _rows(w, b, 300, seed=6)
    pred = _decide(model, x)
    eps = 0.5
    adv = pgd(model, AttackSpace.identity(x), x, torch.as_tensor(pred), eps, "L2", 20)
    assert (adv - x).norm(dim=1).max() <= eps + 1e-5
    flipped = _decide(model, adv) != pred
    l2_radius = np.abs(z) / np.linalg.norm(w)  # no L2 perturbation under this flips
    assert not flipped[l2_radius > eps + 1e-3].any()
    assert flipped.any()


def test_min_flip_search_lands_within_one_step_of_the_exact_radius() -> None:
    w, b, model = linear_case(seed=7)
    x, z = _rows(w, b, 60, seed=8)
    pred = torch.as_tensor(_decide(model, x))
    step, eps_max = 0.01, 1.0
    found = min_flip_epsilons(
        model, AttackSpace.identity(x), x, pred, norm="Linf", eps_max=eps_max, step=step
    )
    exact = np.abs(z) / np.abs(w).sum()
    inside = exact < eps_max - step
    assert inside.sum() > 20
    assert np.all(np.abs(found[inside] - exact[inside]) <= step + 1e-6)
    assert np.isnan(found[exact > eps_max + step]).all()  # censored, not invented


def _roles(sigma: np.ndarray) -> FeatureRoles:
    d = len(sigma)
    return FeatureRoles(
        numeric=np.ones(d, bool),
        integer=np.zeros(d, bool),
        categorical=(),
        one_hot=(),
        mean=np.zeros(d),
        sigma=sigma,
        low=np.full(d, -np.inf),
        high=np.full(d, np.inf),
    )


@pytest.mark.parametrize("scaled", [False, True])
def test_gaussian_flip_rate_matches_phi_of_margin_over_noise(scaled: bool) -> None:
    w, b, model = linear_case(d=4, seed=9)
    sigma = np.array([0.5, 1.0, 2.0, 3.0]) if scaled else np.ones(4)
    x0 = np.array([[0.4, -0.2, 0.1, 0.3]], dtype=np.float32)
    z = float((x0.astype(np.float64) @ w + b)[0])
    eps, m = 0.25, 40_000
    x = np.repeat(x0, m, axis=0)
    noisy = gaussian_noise(x, eps, _roles(sigma), np.random.default_rng(0))
    flips = int(
        (_decide(model, torch.as_tensor(noisy)) != _decide(model, torch.as_tensor(x0))).sum()
    )
    p = stats.norm.cdf(-abs(z) / (eps * np.linalg.norm(w * sigma)))
    lo, hi = stats.binom.interval(0.99, m, p)
    assert 0.01 < p < 0.5  # a case where the test has power
    assert lo <= flips <= hi
