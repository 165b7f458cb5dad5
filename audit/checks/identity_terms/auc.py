"""Subgroup, BPSN and BNSP AUCs (Borkan et al. 2019) and their bootstrap, vectorised.

Point estimates are sklearn's `roc_auc_score` on the subsets. A bootstrap resample of the rows
only reweights them (multinomial counts), and an AUC under row weights is the weighted
Mann-Whitney statistic: with the scores sorted once, each resample's AUC of any subset is a
few cumulative sums over its weights, so a thousand resamples of every term cost a handful of
array passes instead of a hundred thousand sklearn calls. `weighted_auc` is tested against
`roc_auc_score(..., sample_weight=...)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

CHUNK = 64  # most resamples per pass
CELLS = 4_000_000  # most resamples x rows of float64 weights held at once


@dataclass(frozen=True)
class Subsets:
    """The rows of one term, split by label: subgroup (mentions the term) and background."""

    sub_pos: np.ndarray  # bool (N,)
    sub_neg: np.ndarray
    bg_pos: np.ndarray
    bg_neg: np.ndarray

    @classmethod
    def of(cls, mentions: np.ndarray, y: np.ndarray) -> Subsets:
        pos = y == 1
        return cls(mentions & pos, mentions & ~pos, ~mentions & pos, ~mentions & ~pos)

    @property
    def rows(self) -> int:
        """Rows that mention the term."""
        return int(self.sub_pos.sum() + self.sub_neg.sum())

    @property
    def n(self) -> int:
        """The smallest of the four counts: what limits all three AUCs."""
        return int(
            min(self.sub_pos.sum(), self.sub_neg.sum(), self.bg_pos.sum(), self.bg_neg.sum())
        )

    def pairs(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(positives, negatives) of each AUC, by metric name."""
        return {
            "subgroup_auc": (self.sub_pos, self.sub_neg),
            "bpsn_auc": (self.bg_pos, self.sub_neg),
            "bnsp_auc": (self.sub_pos, self.bg_neg),
        }


def auc(score: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> float:
    """sklearn's ROC AUC of the positives against the negatives (NaN if either is empty)."""
    rows = positives | negatives
    if not positives.any() or not negatives.any():
        return float("nan")
    return float(roc_auc_score(positives[rows].astype(int), score[rows]))


class Ranked:
    """Scores sorted once, with their tie blocks, for weighted AUCs of many subsets."""

    def __init__(self, score: np.ndarray) -> None:
        self.order = np.argsort(score, kind="stable")
        ordered = score[self.order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])

    def weighted_auc(
        self, weights: np.ndarray, positives: np.ndarray, negatives: np.ndarray
    ) -> np.ndarray:
        """AUC per row of `weights` (B, N): positive mass above negative mass, ties half."""
        order = self.order
        return self.sorted_auc(np.atleast_2d(weights)[:, order], positives[order], negatives[order])

    def sorted_auc(
        self, weights: np.ndarray, positives: np.ndarray, negatives: np.ndarray
    ) -> np.ndarray:
        """`weighted_auc` with weights and masks already in score order."""
        w = weights
        pos = np.add.reduceat(w * positives, self.starts, axis=1)
        neg = np.add.reduceat(w * negatives, self.starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        wins = (pos * (below + 0.5 * neg)).sum(axis=1)
        total = pos.sum(axis=1) * neg.sum(axis=1)
        out = np.full(len(w), np.nan)
        np.divide(wins, total, out=out, where=total > 0)
        return out


def bootstrap_aucs(
    score: np.ndarray,
    pairs: list[tuple[np.ndarray, np.ndarray]],
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n_boot, len(pairs)) AUCs over row resamples (every pair sees the same resamples)."""
    n = len(score)
    ranked = Ranked(score)
    order = ranked.order
    masks = [(p[order], q[order]) for p, q in pairs]  # sorted once, not once per resample
    out = np.empty((n_boot, len(pairs)))
    uniform = np.full(n, 1.0 / n)
    step = max(1, min(CHUNK, CELLS // max(n, 1)))
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        weights = rng.multinomial(n, uniform, size=b).astype(np.float64)[:, order]
        for j, (positives, negatives) in enumerate(masks):
            out[start : start + b, j] = ranked.sorted_auc(weights, positives, negatives)
    return out


__all__ = ["Ranked", "Subsets", "auc", "bootstrap_aucs"]
