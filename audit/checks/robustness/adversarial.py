"""Gradient attacks through captum.robust: FGSM and PGD robust accuracy, minimum flipping ε.

Attacks run in a normalized space u, with x = shift + scale·u, so one radius means the same
thing on any data (σ units for tabular, a fraction of the value range for images). Each
attack moves away from the model's own clean decision: a flip is a change of decision, and
robust accuracy counts inputs that were right and stayed right. An attack that fails to
find a flip does not prove none exists, so robust accuracy is an upper bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from captum.robust import FGSM, PGD
from scipy import stats as _sp

from audit.checks.base import CheckContext
from audit.loaders.images import rows_per_batch
from audit.loaders.model import ModelRunner
from audit.records import Metric

from ._common import CHECK, PerturbationSample, outcome_metrics, rng_for

UPPER_BOUND_NOTE = (
    "Robust accuracy under FGSM and PGD is an upper bound: a stronger attack may find "
    "flips these did not."
)
# Points of the accuracy-vs-ε curve, across [0, min_flip_max].
_CURVE_POINTS = 21


@dataclass(frozen=True)
class AttackSpace:
    """The normalized coordinates attacks move in, with bounds and a mask of free features."""

    shift: torch.Tensor
    scale: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor
    mask: torch.Tensor | None = None  # 1 where a feature may move

    @classmethod
    def identity(cls, like: torch.Tensor) -> AttackSpace:
        zero, one = torch.zeros_like(like[:1]), torch.ones_like(like[:1])
        return cls(zero, one, zero - torch.inf, one + torch.inf)

    def to_input(self, u: torch.Tensor) -> torch.Tensor:
        return self.shift + self.scale * u

    def from_input(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    def clamp(self, u: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(u, self.upper), self.lower)


def _forward(runner: ModelRunner, space: AttackSpace) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda u: runner.scores(space.to_input(u))


def _fgsm(runner: ModelRunner, space: AttackSpace) -> FGSM:
    attack = FGSM(_forward(runner, space))
    attack.bound = space.clamp  # captum documents `bound` as overridable
    attack.zero_thresh = 0.0  # a tiny but non-zero gradient still gives a direction
    return attack


def fgsm(
    runner: ModelRunner, space: AttackSpace, u: torch.Tensor, target: torch.Tensor, eps: float
) -> torch.Tensor:
    """One signed-gradient step of size ε (L∞) away from `target`."""
    return _fgsm(runner, space).perturb(u, eps, target, mask=space.mask).detach()


def pgd(
    runner: ModelRunner,
    space: AttackSpace,
    u: torch.Tensor,
    target: torch.Tensor,
    eps: float,
    norm: str,
    steps: int,
) -> torch.Tensor:
    """Projected gradient steps inside the ε-ball (L∞ or L2), step size 2.5·ε/steps (Madry)."""
    attack = PGD(_forward(runner, space))
    attack.bound = space.clamp
    attack.fgsm.zero_thresh = 0.0
    out = attack.perturb(u, eps, 2.5 * eps / steps, steps, target, norm=norm, mask=space.mask)
    return out.detach()


def fgsm_direction(
    runner: ModelRunner, space: AttackSpace, u: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Per example, the masked signed gradient d that FGSM steps along at u: FGSM of any
    radius ε is bound(u + ε·d), so one gradient serves a whole search over ε.

    Taken from captum's FGSM as its unit step from δ = 0 on δ ↦ f(u + δ): the gradient there
    is the gradient at u, and 0 + 1·sign(g)·mask is d exactly (u + 1·sign(g) − u would round).
    """
    attack = FGSM(lambda delta: runner.scores(space.to_input(u + delta)))
    attack.zero_thresh = 0.0
    return attack.perturb(torch.zeros_like(u), 1.0, target, mask=space.mask).detach()


def _decisions(runner: ModelRunner, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        out = runner.scores(x)
    return runner.decide(out.detach().cpu().double().numpy())


def min_flip_epsilons(
    runner: ModelRunner,
    space: AttackSpace,
    u: torch.Tensor,
    target: torch.Tensor,
    *,
    norm: str,
    eps_max: float,
    step: float,
    pgd_steps: int = 10,
    batch_size: int = 4096,
) -> np.ndarray:
    """Per example, the smallest ε on the search grid that flips its decision (NaN if none).

    A bisection per example, run for a whole batch at once: each round attacks every
    unfinished example at its own midpoint. L∞ steps along the FGSM direction
    (`fgsm_direction`: one gradient per example for the whole search, so a round is one
    batched forward pass). L2 runs captum's PGD, whose radius is one number per call, once
    per distinct midpoint of the round (a few calls: the midpoints of a bisection coincide).
    Bounds, grid and midpoints are those of captum's `MinParamPerturbation(mode="binary")`,
    computed the same way, so each example gets the ε of the one-example-at-a-time captum
    search this replaced (tests/unit/robustness/test_min_flip_batched.py, on a linear model
    and a small CNN; a batched convolution can round differently from a one-image one, and
    on a larger CNN that moved a few L2 answers, docs/benchmarks.md). A flip need not be
    monotone in ε, so a bisection on other midpoints
    (integer grid indices were tried) lands elsewhere on some examples, by more than a step.
    That search judged correctness for a whole batch at once, so it ran one example per call
    (docs/benchmarks.md, minimum-flip search). Batches of `batch_size` rows are searched one
    after another, so a shard cut on batch boundaries computes the same batches.
    """
    out = np.full(len(u), np.nan)
    for start in range(0, len(u), batch_size):
        ub, tb = u[start : start + batch_size], target[start : start + batch_size]
        direction = fgsm_direction(runner, space, ub, tb) if norm == "Linf" else None
        lo = np.zeros(len(ub))  # captum's min_range: known not to flip (0 never does)
        hi = np.full(len(ub), eps_max + step)  # captum's max_range: flips, or past the grid
        best = np.full(len(ub), np.nan)
        todo = np.arange(len(ub))
        while todo.size:
            mid = _midpoints(lo[todo], hi[todo], step)
            done = np.abs(mid - lo[todo]) <= 1e-9 * np.maximum(np.abs(mid), np.abs(lo[todo]))
            todo, mid = todo[~done], mid[~done]  # captum stops there (mid repeats lo)
            if not todo.size:
                break
            if direction is not None:
                eps = torch.as_tensor(mid, dtype=u.dtype).reshape(-1, *[1] * (u.ndim - 1))
                adv = space.clamp(ub[todo] + eps * direction[todo])
            else:
                adv = torch.empty_like(ub[todo])
                for value in np.unique(mid):  # captum's PGD takes one radius per call
                    at = torch.as_tensor(np.flatnonzero(mid == value))
                    rows = torch.as_tensor(todo)[at]
                    adv[at] = pgd(runner, space, ub[rows], tb[rows], float(value), "L2", pgd_steps)
            flips = _decisions(runner, space.to_input(adv)) != tb[todo].cpu().numpy()
            hi[todo[flips]] = best[todo[flips]] = mid[flips]
            lo[todo[~flips]] = mid[~flips]
            todo = todo[hi[todo] > lo[todo]]
        out[start : start + len(ub)] = best
    return out


def _midpoints(lo: np.ndarray, hi: np.ndarray, step: float) -> np.ndarray:
    """captum's `MinParamPerturbation` binary-search midpoint, in the same float arithmetic
    (numpy's float floor division is Python's), so both searches visit the same ε."""
    half = ((hi - lo) // step) // 2
    half = np.where((half == 0) & (lo + step < hi), 1.0, half)
    return lo + half * step


def epsilon_curve(
    epsilons: np.ndarray, correct: np.ndarray, eps_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy at each ε: right on the clean input and not flipped by any ε' ≤ ε."""
    grid = np.round(np.linspace(0.0, eps_max, _CURVE_POINTS), 10)
    flipped_by = np.where(np.isnan(epsilons), np.inf, epsilons)
    acc = (correct[None, :] & (flipped_by[None, :] > grid[:, None])).mean(axis=1)
    return grid, acc


def median_with_interval(
    values: np.ndarray, confidence: float
) -> tuple[float, float | None, float | None]:
    """The median and a distribution-free order-statistic interval (binomial ranks)."""
    v = np.sort(values)
    n = len(v)
    median = float(np.median(v))
    lo_rank = int(_sp.binom.ppf((1 - confidence) / 2, n, 0.5))
    hi_rank = int(_sp.binom.isf((1 - confidence) / 2, n, 0.5))
    if lo_rank < 1 or hi_rank >= n:
        return median, None, None
    return median, float(v[lo_rank - 1]), float(v[hi_rank])


def attack_slice(
    model: ModelRunner,
    rows: slice,
    *,
    space: AttackSpace,
    family: str,
    norm: str,
    eps: float,
    pgd_steps: int,
    batch_size: int,
    x: np.ndarray,
    target: np.ndarray,
) -> np.ndarray:
    """Shard function: class probabilities after the `family` attack (fgsm or pgd), batch by
    batch (image files: each batch decoded when it is attacked)."""
    step = rows_per_batch(x, batch_size)
    out = []
    for start in range(0, len(x), step):
        u = space.from_input(model.as_tensor(x[start : start + step]))
        t = torch.as_tensor(target[start : start + step])
        if family == "fgsm":
            adv = fgsm(model, space, u, t, eps)
        else:
            adv = pgd(model, space, u, t, eps, norm, pgd_steps)
        out.append(model.predict_proba(space.to_input(adv).cpu().numpy(), step))
    return np.concatenate(out) if out else np.empty((0, model.n_classes))


def min_flip_slice(
    model: ModelRunner,
    rows: slice,
    *,
    space: AttackSpace,
    norm: str,
    eps_max: float,
    step: float,
    pgd_steps: int,
    batch_size: int,
    x: np.ndarray,
    target: np.ndarray,
) -> np.ndarray:
    """Shard function: `min_flip_epsilons` of some examples, in batches of `batch_size`."""
    u = space.from_input(model.as_tensor(x[:]))  # a few rows (`min_flip_sample`)
    return min_flip_epsilons(
        model,
        space,
        u,
        torch.as_tensor(target),
        norm=norm,
        eps_max=eps_max,
        step=step,
        pgd_steps=pgd_steps,
        batch_size=batch_size,
    )


def measure_adversarial(
    ctx: CheckContext, sample: PerturbationSample, space: AttackSpace
) -> tuple[list[Metric], dict[str, Any]]:
    """FGSM/PGD robust accuracy on the sample, and the min-flip search on a seeded subsample."""
    cfg = ctx.config
    radius = {"Linf": cfg.epsilon, "L2": cfg.epsilon_l2}
    arrays = {"x": sample.x, "target": sample.pred}
    metrics: list[Metric] = []
    for family, norm in (("fgsm", "Linf"), ("pgd", "Linf"), ("pgd", "L2")):
        parts = ctx.map_rows(
            attack_slice,
            len(sample.y),
            align=cfg.batch_size,
            kwargs={
                "space": space,
                "family": family,
                "norm": norm,
                "eps": radius[norm],
                "pgd_steps": cfg.pgd_steps,
                "batch_size": cfg.batch_size,
            },
            arrays=arrays,
        )
        pred_after = ctx.model.decide(np.concatenate(parts))
        metrics += outcome_metrics(
            sample, pred_after, ctx.confidence, perturbation=family, method=norm
        )
    k = min(cfg.min_flip_sample, len(sample.y))
    rows = np.sort(rng_for(ctx.seed, "min_flip").choice(len(sample.y), size=k, replace=False))
    parts = ctx.map_rows(
        min_flip_slice,
        k,
        align=cfg.batch_size,
        kwargs={
            "space": space,
            "norm": cfg.norm,
            "eps_max": cfg.min_flip_max,
            "step": cfg.min_flip_step,
            "pgd_steps": cfg.pgd_steps,
            "batch_size": cfg.batch_size,
        },
        arrays={"x": sample.x[rows], "target": sample.pred[rows]},
    )
    eps = np.concatenate(parts)
    # An example never flipped within the search counts at the limit: a conservative median.
    median, lo, hi = median_with_interval(np.nan_to_num(eps, nan=cfg.min_flip_max), ctx.confidence)
    search = "fgsm" if cfg.norm == "Linf" else "pgd"
    metrics.append(
        Metric(
            check=CHECK,
            name="min_flip_epsilon_median",
            value=median,
            ci_low=lo,
            ci_high=hi,
            n=k,
            perturbation=search,
            method=cfg.norm,
        )
    )
    grid, acc = epsilon_curve(eps, sample.pred[rows] == sample.y[rows], cfg.min_flip_max)
    evidence = {
        "epsilon_curve": {"norm": cfg.norm, "epsilon": grid.tolist(), "accuracy": acc.tolist()},
        "min_flip": {
            "n": k,
            "not_flipped": int(np.isnan(eps).sum()),
            "search_max": cfg.min_flip_max,
            "search_step": cfg.min_flip_step,
        },
        "radius": radius,
    }
    return metrics, evidence
