"""Statistics of the spurious check against closed forms and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from audit import stats
from audit.checks.spurious import detect


def test_mcnemar_matches_binomial_test_on_discordant_pairs() -> None:
    a = np.array([1, 1, 1, 1, 1, 0, 0, 1], dtype=bool)
    b = np.array([0, 0, 0, 0, 1, 0, 1, 1], dtype=bool)
    assert detect.mcnemar_paired(a, b) == pytest.approx(sps.binomtest(4, 5, 0.5).pvalue)
    assert detect.mcnemar_paired(a, a) == 1.0


def test_flip_excess_without_null_is_the_wilson_interval() -> None:
    flips = np.array([True] * 3 + [False] * 7)
    ex = detect.flip_excess(
        flips, {}, idx=detect.boot_indices(10, 50, np.random.default_rng(0)), confidence=0.95
    )
    low, high = stats.wilson_interval(3, 10)
    assert (ex.value, ex.ci_low, ex.ci_high) == pytest.approx((0.3, float(low), float(high)))
    assert ex.beaten is None


def test_flip_excess_takes_the_smaller_null() -> None:
    rng = np.random.default_rng(0)
    art = rng.random(300) < 0.5
    nulls = {"location_null": np.zeros(300, bool), "content_null": art.copy()}
    ex = detect.flip_excess(art, nulls, idx=detect.boot_indices(300, 500, rng), confidence=0.95)
    assert ex.beaten == "location_null"
    assert ex.value == pytest.approx(art.mean())
    assert ex.ci_low > 0.3


def test_flip_excess_is_calibrated_under_an_exchangeable_null() -> None:
    """Artifact and null flips drawn from the same law: ci_low > 0 in at most alpha/2 + 2 SE."""
    rng = np.random.default_rng(1)
    sims, n = 300, 200
    flagged = 0
    for _ in range(sims):
        art = rng.random(n) < 0.2
        null = rng.random(n) < 0.2
        ex = detect.flip_excess(
            art, {"content_null": null}, idx=detect.boot_indices(n, 300, rng), confidence=0.95
        )
        flagged += ex.ci_low > 0
    alpha = 0.025
    assert flagged / sims <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / sims)


def test_enrichment_of_uniform_attribution_is_one() -> None:
    attr = np.ones((50, 64))
    mask = np.zeros((50, 64), bool)
    mask[:, :4] = True
    valid = np.ones_like(mask)
    idx = detect.boot_indices(50, 100, np.random.default_rng(0))
    e = detect.enrichment(attr, mask, valid, [np.roll(mask[0], 8)], idx=idx, confidence=0.95)
    assert e.value == pytest.approx(1.0)
    assert e.area == pytest.approx(4 / 64)
    assert e.wilcoxon_p == 1.0


def test_enrichment_of_attribution_inside_the_mask() -> None:
    mask = np.zeros((40, 16), bool)
    mask[:, :2] = True
    attr = np.where(mask, 5.0, 0.1)
    idx = detect.boot_indices(40, 100, np.random.default_rng(0))
    e = detect.enrichment(
        attr, mask, np.ones_like(mask), [np.roll(mask[0], 4)], idx=idx, confidence=0.95
    )
    assert e.rank_accuracy == 1.0
    assert e.value > e.null_value
    assert e.ci_low > 1.0


def test_padding_does_not_count_towards_the_area() -> None:
    mask = np.zeros((10, 8), bool)
    mask[:, 0] = True
    valid = np.zeros((10, 8), bool)
    valid[:, :4] = True
    attr = np.ones((10, 8))
    idx = detect.boot_indices(10, 50, np.random.default_rng(0))
    e = detect.enrichment(attr, mask, valid, [], idx=idx, confidence=0.95)
    assert e.area == pytest.approx(0.25)
    assert e.value == pytest.approx(1.0)


def test_enrichment_gain_is_zero_for_an_explainer_blind_to_the_weights() -> None:
    mask = np.zeros((30, 16), bool)
    mask[:, :2] = True
    attr = np.where(mask, 3.0, 1.0)
    idx = detect.boot_indices(30, 100, np.random.default_rng(0))
    gain = detect.enrichment_gain(attr, attr, mask, np.ones_like(mask), idx=idx, confidence=0.95)
    assert gain == pytest.approx((0.0, 0.0, 0.0))


def test_rank_correlation_identity_and_padding() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((5, 10))
    assert detect.rank_correlation(a, a) == pytest.approx(1.0)
    assert detect.rank_correlation(a, -a) == pytest.approx(1.0)  # magnitudes
    b = a.copy()
    b[:, :5] = 0.0
    a[:, :5] = 0.0
    valid = np.zeros_like(a, dtype=bool)
    valid[:, 5:] = True
    rev = a.copy()
    rev[:, 5:] = a[:, 5:][:, ::-1]
    assert detect.rank_correlation(a, rev, valid) < detect.rank_correlation(a, rev)


def test_attribution_shares_sum_to_one() -> None:
    attr = np.random.default_rng(0).normal(size=(100, 4)) * [1, 2, 3, 0]
    share, low, high = detect.attribution_shares(
        attr, detect.boot_indices(100, 200, np.random.default_rng(1)), 0.95
    )
    assert share.sum() == pytest.approx(1.0)
    assert share[3] == 0.0
    assert np.all(low <= share + 1e-12) and np.all(share <= high + 1e-12)
