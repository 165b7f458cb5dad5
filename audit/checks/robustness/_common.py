"""Shared pieces of the robustness check: seeded sampling, batched scoring, outcome metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Unpack

import numpy as np

from audit.checks.base import CheckContext
from audit.loaders.images import take_rows
from audit.records import IntervalBasis, Metric, SubjectKeys
from audit.stats import wilson_interval
from audit.streams import stream

CHECK = "robustness"
# Flipped inputs kept as evidence for the report, per modality.
MAX_EXAMPLES = 8


def rng_for(seed: int, *parts: str | int) -> np.random.Generator:
    """An independent, reproducible stream per (seed, family, level) of this check."""
    return stream(seed, CHECK, *parts)


def sample_rows(n_total: int, k: int, seed: int) -> np.ndarray:
    """Sorted row indices of a seeded sample without replacement (all rows if k >= n)."""
    if k >= n_total:
        return np.arange(n_total)
    return np.sort(rng_for(seed, "sample").choice(n_total, size=k, replace=False))


@dataclass(frozen=True)
class PerturbationSample:
    """The rows a robustness run perturbs, with their clean outcome."""

    index: np.ndarray
    x: np.ndarray
    y: np.ndarray
    proba: np.ndarray
    pred: np.ndarray

    @classmethod
    def draw(cls, ctx: CheckContext) -> PerturbationSample:
        idx = sample_rows(len(ctx.data), ctx.config.sample, ctx.seed)
        return cls(
            index=idx,
            x=take_rows(ctx.data.x, idx),  # image files: decoded batch by batch when used
            y=ctx.data.y[idx],
            proba=ctx.predictions.proba[idx],
            pred=ctx.predictions.label[idx],
        )


def rate_metric(
    name: str,
    hits: int,
    n: int,
    confidence: float,
    **subject: Unpack[SubjectKeys],
) -> Metric:
    """A proportion with its Wilson interval."""
    lo, hi = wilson_interval(hits, n, confidence)
    return Metric(
        check=CHECK,
        name=name,
        value=hits / n,
        ci_low=float(lo),
        ci_high=float(hi),
        n=n,
        interval=IntervalBasis("wilson", confidence, successes=hits, trials=n),
        **subject,
    )


def outcome_metrics(
    sample: PerturbationSample,
    pred_after: np.ndarray,
    confidence: float,
    *,
    perturbation: str,
    level: int | None = None,
    method: str | None = None,
) -> list[Metric]:
    """Accuracy, flip rate and accuracy ratio to clean for one perturbation and level."""
    n = len(sample.y)
    subject: SubjectKeys = {"perturbation": perturbation, "level": level, "method": method}
    correct = int((pred_after == sample.y).sum())
    out = [
        rate_metric("accuracy", correct, n, confidence, **subject),
        rate_metric("flip_rate", int((pred_after != sample.pred).sum()), n, confidence, **subject),
    ]
    clean = int((sample.pred == sample.y).sum())
    if clean > 0:  # undefined when the model is never right on the sample
        out.append(
            Metric(check=CHECK, name="accuracy_ratio", value=correct / clean, n=n, **subject)
        )
    return out


# CheckList invariance (INV): a text edit fails when the decision changes and the clean
# class's probability moves by more than this.
INV_TOLERANCE = 0.1


def text_edit_metrics(
    sample: PerturbationSample,
    p_after: np.ndarray,
    pred_after: np.ndarray,
    p_clean: np.ndarray,
    cls: np.ndarray,
    confidence: float,
    *,
    perturbation: str,
    level: int,
) -> tuple[list[Metric], np.ndarray]:
    """A text edit family at one level, for token ids and raw text alike: the outcome
    metrics and the invariance failure rate, and which rows failed (for the examples).
    `cls` (N, 1) is each row's clean class and `p_clean` its clean probability."""
    moved = np.abs(np.take_along_axis(p_after, cls, axis=1)[:, 0] - p_clean)
    fails = (pred_after != sample.pred) & (moved > INV_TOLERANCE)
    subject: SubjectKeys = {"perturbation": perturbation, "level": level}
    metrics = outcome_metrics(
        sample, pred_after, confidence, perturbation=perturbation, level=level
    )
    hits = int(fails.sum())
    metrics.append(rate_metric("invariance_failure_rate", hits, len(fails), confidence, **subject))
    return metrics, fails


def clean_metric(sample: PerturbationSample, confidence: float) -> Metric:
    """Accuracy on the unperturbed sample: the reference every ratio is taken against."""
    correct = int((sample.pred == sample.y).sum())
    return rate_metric("clean_accuracy", correct, len(sample.y), confidence)
