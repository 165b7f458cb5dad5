"""The weighted AUC behind the bootstrap equals sklearn's, ties and weights included."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from audit.checks.identity_terms.auc import Ranked, Subsets, auc, bootstrap_aucs
from audit.streams import stream


def test_weighted_auc_matches_sklearn_sample_weight_with_ties():
    rng = np.random.default_rng(0)
    n = 300
    score = np.round(rng.random(n), 1)  # many ties
    y = rng.integers(0, 2, n)
    mentions = rng.random(n) < 0.3
    sub = Subsets.of(mentions, y)
    ranked = Ranked(score)
    weights = rng.multinomial(n, np.full(n, 1 / n), size=5).astype(float)
    for positives, negatives in sub.pairs().values():
        got = ranked.weighted_auc(weights, positives, negatives)
        rows = positives | negatives
        for b in range(len(weights)):
            keep = rows & (weights[b] > 0)
            expected = roc_auc_score(
                positives[keep].astype(int), score[keep], sample_weight=weights[b][keep]
            )
            assert abs(got[b] - expected) < 1e-12


def test_unit_weights_give_the_point_estimate_and_empty_classes_give_nan():
    rng = np.random.default_rng(1)
    score, y = rng.random(50), rng.integers(0, 2, 50)
    pos, neg = y == 1, y == 0
    assert abs(Ranked(score).weighted_auc(np.ones(50), pos, neg)[0] - auc(score, pos, neg)) < 1e-12
    none = np.zeros(50, dtype=bool)
    assert np.isnan(auc(score, none, neg))
    assert np.isnan(Ranked(score).weighted_auc(np.ones(50), none, neg)[0])


def test_bootstrap_is_seeded_and_spans_the_estimate():
    rng = np.random.default_rng(2)
    score, y = rng.random(200), rng.integers(0, 2, 200)
    pairs = [(y == 1, y == 0)]
    a = bootstrap_aucs(score, pairs, 200, stream(0, "t"))
    b = bootstrap_aucs(score, pairs, 200, stream(0, "t"))
    assert np.array_equal(a, b) and a.shape == (200, 1)
    point = auc(score, y == 1, y == 0)
    assert np.quantile(a, 0.025) < point < np.quantile(a, 0.975)
