"""Known answers and library agreement for the shared statistics helpers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp

from audit import stats


@pytest.mark.parametrize(("k", "n"), [(0, 10), (5, 10), (10, 10), (3, 47), (812, 1000)])
def test_wilson_matches_scipy(k, n):
    low, high = stats.wilson_interval(k, n, 0.95)
    ref = sp.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert low == pytest.approx(ref.low, abs=1e-12)
    assert high == pytest.approx(ref.high, abs=1e-12)


@pytest.mark.parametrize("n", [1, 7, 80, 10_000])
def test_wilson_bounds_are_exact_at_the_edges(n):
    """A rate of exactly 0 or 1 lies inside its interval (no 1 - 1e-16 upper bound)."""
    assert stats.wilson_interval(n, n)[1] == 1.0
    assert stats.wilson_interval(0, n)[0] == 0.0


def test_wilson_known_value_and_vectorized():
    low, high = stats.wilson_interval(np.array([5, 0]), np.array([10, 0]), 0.95)
    assert low[0] == pytest.approx(0.236593, abs=1e-6)
    assert high[0] == pytest.approx(0.763407, abs=1e-6)
    assert np.isnan(low[1]) and np.isnan(high[1])  # n = 0: undefined, never a number


def test_wilson_rejects_bad_input():
    with pytest.raises(ValueError, match="counts must be non-negative"):
        stats.wilson_interval(5, 3)
    with pytest.raises(ValueError, match="confidence must be strictly between 0 and 1"):
        stats.wilson_interval(1, 3, 1.0)


def test_wilson_coverage_on_simulated_data():
    """Coverage of a known true rate is near nominal (Monte Carlo tolerance)."""
    rng = np.random.default_rng(7)
    reps, n, p = 20_000, 60, 0.12
    k = rng.binomial(n, p, size=reps)
    low, high = stats.wilson_interval(k, np.full(reps, n), 0.95)
    coverage = np.mean((low <= p) & (p <= high))
    assert abs(coverage - 0.95) < 0.02


def test_percentile_interval_matches_numpy_and_skips_nan():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 3))
    x[::10, 1] = np.nan
    x[:, 2] = np.nan
    low, high = stats.percentile_interval(x, 0.9, axis=0)
    assert low[0] == pytest.approx(np.quantile(x[:, 0], 0.05))
    assert high[1] == pytest.approx(np.quantile(x[~np.isnan(x[:, 1]), 1], 0.95))
    assert np.isnan(low[2]) and np.isnan(high[2])


def test_multinomial_resamples_keep_totals_and_are_seeded(monkeypatch):
    counts = np.array([[5, 0], [30, 65]])
    draws = np.concatenate(list(stats.multinomial_resamples(counts, 50, np.random.default_rng(1))))
    assert draws.shape == (50, 2, 2)
    assert np.all(draws.sum(axis=(1, 2)) == 100)
    assert np.all(draws[:, 0, 1] == 0)  # an empty cell stays empty
    monkeypatch.setattr(stats, "_MAX_DRAW_CELLS", 12)  # three resamples per chunk
    chunked = list(stats.multinomial_resamples(counts, 50, np.random.default_rng(1)))
    assert len(chunked) == 17
    assert np.array_equal(np.concatenate(chunked), draws)


def test_multinomial_mean_and_variance_match_row_resampling():
    counts = np.array([20, 30, 50])
    draws = np.concatenate(
        list(stats.multinomial_resamples(counts, 20_000, np.random.default_rng(3)))
    )
    p = counts / 100
    assert np.allclose(draws.mean(axis=0), counts, atol=0.3)
    assert np.allclose(draws.var(axis=0), 100 * p * (1 - p), rtol=0.05)


def test_holm_known_answer():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 scaled by 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> monotone
    expected = np.array([0.03, 0.06, 0.06, 0.02])
    assert np.allclose(stats.holm(p), expected)
    assert stats.holm(np.array([0.9, 0.8])).max() == 1.0


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(5)
    p = rng.random(40) ** 3
    assert np.allclose(stats.benjamini_hochberg(p), sp.false_discovery_control(p))


def test_adjustments_reject_bad_pvalues():
    with pytest.raises(ValueError, match="p-values must lie in"):
        stats.holm(np.array([0.1, np.nan]))
    assert stats.benjamini_hochberg(np.array([])).size == 0


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 11), (10, 10), (0, 7), (25, 4)])
def test_mcnemar_exact_matches_binomial_test(b, c):
    expected = 1.0 if b + c == 0 else sp.binomtest(b, b + c, 0.5).pvalue
    assert stats.mcnemar_exact(b, c) == pytest.approx(expected)


def test_safe_divide_marks_undefined():
    out = stats.safe_divide(np.array([1.0, 0.0]), np.array([2.0, 0.0]))
    assert out[0] == 0.5 and np.isnan(out[1])


@pytest.mark.parametrize(("k", "n", "t"), [(70, 200, 0.3), (90, 200, 0.3), (5, 40, 0.05)])
@pytest.mark.parametrize("side", ["ci_low", "ci_high"])
def test_wilson_crossing_is_where_the_bound_meets_the_threshold(k, n, t, side):
    a = float(stats.wilson_crossing(k, n, t, side))
    if a in (0.0, 1.0):
        return
    low, high = stats.wilson_interval(k, n, 1 - a)
    assert (low if side == "ci_low" else high) == pytest.approx(t, abs=1e-9)


def test_wilson_crossing_is_the_score_test():
    """Two-sided score test of p = 0.3 with 75 of 200 (scipy's binomtest has no score test)."""
    z = (75 / 200 - 0.3) / np.sqrt(0.3 * 0.7 / 200)
    assert stats.wilson_crossing(75, 200, 0.3, "ci_low") == pytest.approx(2 * sp.norm.sf(z))
    assert stats.wilson_crossing(75, 200, 0.3, "ci_high") == 1.0  # p̂ above t: never below


def test_widened_interval_is_exact_for_a_normal_interval():
    z95, z99 = sp.norm.ppf(0.975), sp.norm.ppf(0.995)
    low, high = stats.widened_interval(1 - 2 * z95, 1 + 2 * z95, 0.95, 0.99)
    assert (low, high) == pytest.approx((1 - 2 * z99, 1 + 2 * z99))
    same = stats.widened_interval(0.2, 0.5, 0.95, 0.95)
    assert same == (0.2, 0.5)


def test_crossing_level_matches_the_widened_bound():
    a = float(stats.crossing_level(0.12, 0.30, 0.95, 0.1, "ci_low"))
    low, _ = stats.widened_interval(0.12, 0.30, 0.95, 1 - a)
    assert low == pytest.approx(0.1)


def test_bonferroni():
    assert stats.bonferroni(np.array([0.01, 0.2, 0.5])).tolist() == pytest.approx([0.03, 0.6, 1])


def test_minimum_detectable_difference_matches_the_sample_size_formula():
    """With n per group from the textbook formula at gap 0.1, the gap detected is 0.1."""
    p, gap = 0.3, 0.1
    n = (sp.norm.ppf(0.975) + sp.norm.ppf(0.8)) ** 2 * 2 * p * (1 - p) / gap**2
    assert stats.minimum_detectable_difference(p, n, n, 0.05) == pytest.approx(gap)
    assert stats.minimum_detectable_deviation(p, n / 2, 0.05) == pytest.approx(gap)


def test_minimum_detectable_shortfall_by_the_delta_method():
    p, n = 0.4, 500
    log_gap = (sp.norm.ppf(0.975) + sp.norm.ppf(0.8)) * np.sqrt((1 - p) / p * 2 / n)
    got = stats.minimum_detectable_shortfall(p, n, n, 0.05)
    assert got == pytest.approx(1 - np.exp(-log_gap))
    # for small gaps it is the difference over the rate, as the delta method on p1/p2 says
    assert got == pytest.approx(stats.minimum_detectable_difference(p, n, n, 0.05) / p, rel=0.15)
