"""Tabular perturbations: feature-scaled Gaussian noise and categorical redraws.

Noise is x'_j = x_j + ε·σ_j·z, clipped to the observed range and rounded for integer
features; categorical values (and one-hot groups) are redrawn from their marginal with
probability p. Immutable features (e.g. the sensitive ones) are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from audit.checks.base import CheckContext
from audit.errors import SpecError
from audit.records import Metric

from ._common import MAX_EXAMPLES, PerturbationSample, outcome_metrics, rng_for
from .adversarial import AttackSpace

_UNKNOWN_FEATURE = "feature {0!r} is not among the model's features."


@dataclass(frozen=True)
class FeatureRoles:
    """How each column may be perturbed, derived once from the spec and the data."""

    numeric: np.ndarray  # bool (F,): receives Gaussian noise
    integer: np.ndarray  # bool (F,): rounded after noise
    categorical: tuple[int, ...]  # columns redrawn from their marginal
    one_hot: tuple[tuple[int, ...], ...]  # column groups redrawn as a whole
    mean: np.ndarray  # (F,) mean over the data
    sigma: np.ndarray  # (F,) standard deviation over the data
    low: np.ndarray  # (F,) observed minimum
    high: np.ndarray  # (F,) observed maximum


def resolve_roles(names: tuple[str, ...], config: Any, x: np.ndarray) -> FeatureRoles:
    """Map the spec's feature lists to column indices; unknown names are a spec error."""
    position = {n: i for i, n in enumerate(names)}

    def cols(field: str, values: list[str]) -> list[int]:
        for v in values:
            if v not in position:
                raise SpecError(
                    _UNKNOWN_FEATURE.format(v),
                    where=f"checks.robustness.{field}",
                    fix="use names from `data.features`.",
                )
        return [position[v] for v in values]

    immutable = set(cols("immutable", config.immutable))
    categorical = [c for c in cols("categorical", config.categorical) if c not in immutable]
    groups = [tuple(cols("one_hot", g)) for g in config.one_hot]
    groups = [g for g in groups if not immutable.intersection(g)]
    numeric = np.ones(len(names), dtype=bool)
    numeric[list(immutable | set(categorical) | {c for g in groups for c in g})] = False
    integer = np.zeros(len(names), dtype=bool)
    integer[cols("integer", config.integer)] = True
    x64 = x.astype(np.float64)
    return FeatureRoles(
        numeric=numeric,
        integer=integer,
        categorical=tuple(categorical),
        one_hot=tuple(groups),
        mean=x64.mean(axis=0),
        sigma=x64.std(axis=0),
        low=x64.min(axis=0),
        high=x64.max(axis=0),
    )


def gaussian_noise(
    x: np.ndarray, eps: float, roles: FeatureRoles, rng: np.random.Generator
) -> np.ndarray:
    """Noise of ε standard deviations on the numeric features, kept inside the data's range."""
    z = rng.standard_normal(x.shape)
    out = x + (eps * roles.sigma * roles.numeric) * z
    out = np.clip(out, roles.low, roles.high)
    out[:, roles.integer] = np.rint(out[:, roles.integer])
    return out.astype(x.dtype)


def categorical_redraw(
    x: np.ndarray, p: float, data: np.ndarray, roles: FeatureRoles, rng: np.random.Generator
) -> np.ndarray:
    """With probability p per cell (per group for one-hot), redraw from the data's marginal.

    A redraw may return the same value, as sampling from the marginal does.
    """
    out = x.copy()
    n = len(x)
    for col in roles.categorical:  # one vectorized pass per column
        values, counts = np.unique(data[:, col], return_counts=True)
        redraw = rng.random(n) < p
        out[redraw, col] = rng.choice(values, size=int(redraw.sum()), p=counts / counts.sum())
    for group in roles.one_hot:
        cols = np.asarray(group, dtype=np.intp)
        freq = data[:, cols].astype(np.float64).sum(axis=0)
        redraw = rng.random(n) < p
        level = rng.choice(len(cols), size=int(redraw.sum()), p=freq / freq.sum())
        out[np.ix_(redraw, cols)] = np.eye(len(cols), dtype=x.dtype)[level]
    return out


def attack_space(roles: FeatureRoles) -> AttackSpace:
    """Attacks move in σ units inside the observed range, on the numeric features only.

    Integer features are attacked as continuous (the attack is then stronger than any
    feasible integer change); categorical, one-hot and immutable features stay fixed.
    """
    free = roles.numeric & (roles.sigma > 0)
    scale = np.where(free, roles.sigma, 1.0)

    def row(v: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(v, dtype=torch.float32)[None, :]

    return AttackSpace(
        shift=row(roles.mean),
        scale=row(scale),
        lower=row((roles.low - roles.mean) / scale),
        upper=row((roles.high - roles.mean) / scale),
        mask=row(free.astype(np.float64)),
    )


def _flipped_rows(
    sample: PerturbationSample,
    x_after: np.ndarray,
    pred_after: np.ndarray,
    family: str,
    level: int,
) -> list[dict[str, Any]]:
    idx = np.flatnonzero(pred_after != sample.pred)[:MAX_EXAMPLES]
    return [
        {
            "before": sample.x[i].astype(float).tolist(),
            "after": x_after[i].astype(float).tolist(),
            "pred": int(sample.pred[i]),
            "pred_after": int(pred_after[i]),
            "perturbation": family,
            "level": level,
        }
        for i in idx
    ]


def measure_tabular(
    ctx: CheckContext, sample: PerturbationSample, roles: FeatureRoles
) -> tuple[list[Metric], dict[str, Any]]:
    """Every family at every level, all levels of a family scored in one batch."""
    cfg = ctx.config
    families = {"gaussian_noise": cfg.levels}
    if roles.categorical or roles.one_hot:
        families["categorical_flip"] = cfg.categorical_flip_p
    metrics: list[Metric] = []
    rows: list[dict[str, Any]] = []
    for family, scales in families.items():
        perturbed = [
            gaussian_noise(sample.x, scale, roles, rng_for(ctx.seed, family, s))
            if family == "gaussian_noise"
            else categorical_redraw(
                sample.x, scale, ctx.data.x, roles, rng_for(ctx.seed, family, s)
            )
            for s, scale in enumerate(scales, start=1)
        ]
        _, pred = ctx.predict(np.concatenate(perturbed), ctx.config.batch_size)
        for s, (x_after, pred_after) in enumerate(
            zip(perturbed, np.split(pred, len(scales)), strict=True), start=1
        ):
            metrics += outcome_metrics(
                sample, pred_after, ctx.confidence, perturbation=family, level=s
            )
            if len(rows) < MAX_EXAMPLES:
                rows += _flipped_rows(sample, x_after, pred_after, family, s)
    evidence = {
        "flipped_rows": {
            "columns": list(ctx.data.feature_names),
            "categories": dict(ctx.data.categories),
            "rows": rows[:MAX_EXAMPLES],
        },
        "levels": {family: list(scales) for family, scales in families.items()},
    }
    return metrics, evidence
