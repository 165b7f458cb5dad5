"""Text perturbations as CheckList invariance (INV) tests on token ids.

Token drops, adjacent swaps and insertions of neutral tokens, editing a share of each
sequence's tokens per level (at least one edit). A case passes when the decision is
unchanged or the clean class's probability moves by at most `INV_TOLERANCE`.
All edits are vectorized over the batch: each is a sort or gather on (N, L) arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from audit.checks.base import CheckContext
from audit.records import Metric

from ._common import INV_TOLERANCE, MAX_EXAMPLES, PerturbationSample, rng_for, text_edit_metrics

# Without declared neutral tokens, the most frequent ids stand in for stop words.
N_FREQUENT = 10

Edit = Callable[[np.ndarray, np.ndarray, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def pack(x: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Tokens moved to the front of each row (order kept), lengths, and if x was left-padded."""
    real = x != pad
    tokens = np.take_along_axis(x, np.argsort(~real, axis=1, kind="stable"), axis=1)
    left = bool((~real[:, 0] & real[:, -1]).any())
    return tokens, real.sum(axis=1), left


def unpack(tokens: np.ndarray, lengths: np.ndarray, pad: int, left: bool) -> np.ndarray:
    """Back to the input's padding side, pads after each row's length."""
    width = tokens.shape[1]
    pos = np.arange(width)
    out = np.where(pos[None, :] < lengths[:, None], tokens, pad)
    if left:
        out = np.take_along_axis(out, (pos[None, :] - (width - lengths)[:, None]) % width, axis=1)
    return out


def _choose(m: np.ndarray, k: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
    """Per row, a random set of k positions among the first m (bool mask (N, width))."""
    keys = rng.random((len(m), width))
    keys[np.arange(width)[None, :] >= m[:, None]] = np.inf
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    return ranks < k[:, None]


def _edits(lengths: np.ndarray, rate: float, limit: np.ndarray) -> np.ndarray:
    return np.clip(np.maximum(1, np.rint(rate * lengths)), 0, np.maximum(limit, 0)).astype(int)


def token_drop(
    tokens: np.ndarray, lengths: np.ndarray, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Remove a share of tokens, always keeping at least one."""
    width = tokens.shape[1]
    drop = _choose(lengths, _edits(lengths, rate, lengths - 1), width, rng)
    keep = (np.arange(width)[None, :] < lengths[:, None]) & ~drop
    out = np.take_along_axis(tokens, np.argsort(~keep, axis=1, kind="stable"), axis=1)
    return out, keep.sum(axis=1)


def adjacent_swap(
    tokens: np.ndarray, lengths: np.ndarray, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Swap a share of tokens with their right neighbour; swaps never overlap."""
    width = tokens.shape[1]
    start = _choose(lengths - 1, _edits(lengths, rate, lengths - 1), width, rng)
    start[:, 1:] &= ~start[:, :-1]  # a swap at j-1 already moved j
    partner = np.zeros_like(start)
    partner[:, 1:] = start[:, :-1]
    perm = np.arange(width)[None, :] + start.astype(int) - partner.astype(int)
    return np.take_along_axis(tokens, perm, axis=1), lengths


def make_insert(neutral: np.ndarray) -> Edit:
    """Insert neutral tokens at random gaps; rows that overflow are truncated at the end."""

    def insert(
        tokens: np.ndarray, lengths: np.ndarray, rate: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        n, width = tokens.shape
        k = _edits(lengths, rate, lengths + 1)
        kmax = int(k.max())
        gaps = _choose(lengths + 1, k, width + 1, rng)
        gap_at = np.argsort(~gaps, axis=1, kind="stable")[:, :kmax]
        valid = np.arange(kmax)[None, :] < k[:, None]
        new = neutral[rng.integers(len(neutral), size=(n, kmax))]
        pos = np.arange(width)[None, :]
        keys = np.concatenate(
            [np.where(pos < lengths[:, None], pos, np.inf), np.where(valid, gap_at - 0.5, np.inf)],
            axis=1,
        )
        order = np.argsort(keys, axis=1, kind="stable")[:, :width]
        out = np.take_along_axis(np.concatenate([tokens, new], axis=1), order, axis=1)
        return out, np.minimum(lengths + k, width)

    return insert


def neutral_tokens(x: np.ndarray, pad: int, declared: list[int]) -> np.ndarray:
    """The declared neutral ids, or the most frequent non-pad ids of the data."""
    if declared:
        return np.asarray(declared, dtype=x.dtype)
    ids, counts = np.unique(x[x != pad], return_counts=True)
    return ids[np.argsort(-counts, kind="stable")[:N_FREQUENT]]


def measure_text(
    ctx: CheckContext, sample: PerturbationSample
) -> tuple[list[Metric], dict[str, Any]]:
    """Each edit family at each level; a family's levels are scored in one batch."""
    cfg, pad = ctx.config, ctx.data.pad_id
    neutral = neutral_tokens(ctx.data.x, pad, cfg.neutral_tokens)
    families: dict[str, Edit] = {"token_drop": token_drop, "adjacent_swap": adjacent_swap}
    if len(neutral):
        families["neutral_insert"] = make_insert(neutral)
    tokens, lengths, left = pack(sample.x, pad)
    cls = sample.pred[:, None]
    p_clean = np.take_along_axis(sample.proba, cls, axis=1)[:, 0]
    metrics: list[Metric] = []
    examples: list[dict[str, Any]] = []
    for family, edit in families.items():
        edited = [
            unpack(*edit(tokens, lengths, rate, rng_for(ctx.seed, family, s)), pad, left)
            for s, rate in enumerate(cfg.levels, start=1)
        ]
        proba, pred = ctx.predict(np.concatenate(edited), ctx.config.batch_size)
        for s, (x_after, p_after, pred_after) in enumerate(
            zip(
                edited,
                np.split(proba, len(edited)),
                np.split(pred, len(edited)),
                strict=True,
            ),
            start=1,
        ):
            found_metrics, fails = text_edit_metrics(
                sample,
                p_after,
                pred_after,
                p_clean,
                cls,
                ctx.confidence,
                perturbation=family,
                level=s,
            )
            metrics += found_metrics
            examples += [
                {
                    "before": sample.x[i][sample.x[i] != pad].tolist(),
                    "after": x_after[i][x_after[i] != pad].tolist(),
                    "pred": int(sample.pred[i]),
                    "pred_after": int(pred_after[i]),
                    "perturbation": family,
                    "level": s,
                }
                for i in np.flatnonzero(fails)[: max(0, MAX_EXAMPLES - len(examples))]
            ]
    evidence = {
        "flipped_texts": examples,
        "neutral_tokens": neutral.tolist(),
        "neutral_tokens_declared": bool(cfg.neutral_tokens),
        "invariance_tolerance": INV_TOLERANCE,
    }
    return metrics, evidence
