"""Statistics of the spurious check: paired flip rates against nulls, enrichment, shares.

Everything here takes plain arrays and returns numbers; no model, no judgement. The
intervals and tests themselves come from `audit.stats` (Wilson, exact McNemar, percentile).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from audit import stats


def mcnemar_paired(a: np.ndarray, b: np.ndarray) -> float:
    """Exact McNemar p-value for paired booleans (flips under two variants, same rows)."""
    return stats.mcnemar_exact(int(np.sum(a & ~b)), int(np.sum(~a & b)))


def boot_indices(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) resampling indices, drawn once and shared by paired statistics."""
    return rng.integers(0, n, size=(n_boot, n))


def percentile_ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    low, high = stats.percentile_interval(samples, confidence)
    return float(low), float(high)


@dataclass(frozen=True)
class Rate:
    """A proportion with its Wilson interval."""

    value: float
    ci_low: float
    ci_high: float
    n: int


def rate(flags: np.ndarray, confidence: float) -> Rate:
    n = int(flags.size)
    k = int(flags.sum())
    low, high = stats.wilson_interval(k, n, confidence)
    return Rate(k / n, float(low), float(high), n)


@dataclass(frozen=True)
class Excess:
    """The artifact's flip rate minus the smaller applicable null's, with a paired bootstrap CI.

    `beaten` names the null that was smaller at the point estimate (the one the finding cites).
    """

    value: float
    ci_low: float
    ci_high: float
    n: int
    beaten: str | None


def flip_excess(
    artifact: np.ndarray,
    nulls: dict[str, np.ndarray],
    *,
    idx: np.ndarray,
    confidence: float,
) -> Excess:
    """FR(artifact) - min over nulls of FR(null), the min taken inside every resample.

    With no applicable null (a tabular feature) the null is an exact zero: an ignored feature
    never flips a prediction, so the interval is the artifact's Wilson interval.
    """
    n = int(artifact.size)
    if not nulls:
        r = rate(artifact, confidence)
        return Excess(r.value, r.ci_low, r.ci_high, n, None)
    names = list(nulls)
    stacked = np.stack([nulls[k] for k in names]).astype(np.float64)  # (J, n)
    null_rates = stacked.mean(axis=1)
    point = float(artifact.mean() - null_rates.min())
    boot_art = artifact.astype(np.float64)[idx].mean(axis=1)  # (B,)
    boot_null = stacked[:, idx].mean(axis=2).min(axis=0)  # (B,)
    low, high = percentile_ci(boot_art - boot_null, confidence)
    return Excess(point, low, high, n, names[int(np.argmin(null_rates))])


def mean_ci(values: np.ndarray, idx: np.ndarray, confidence: float) -> tuple[float, float]:
    """Bootstrap percentile interval of a mean, using shared resampling indices."""
    return percentile_ci(values[idx].mean(axis=1), confidence)


@dataclass(frozen=True)
class Enrichment:
    """Attribution mass on the artifact against its area share (E = rho / a)."""

    rho: float
    area: float
    value: float
    ci_low: float
    ci_high: float
    rank_accuracy: float
    wilcoxon_p: float
    null_value: float  # enrichment of the same mask moved to random positions
    permutation_p: float


def mass_ratio(attr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-row rho = sum_M |A| / sum |A|; attr and mask are (N, P), mask boolean."""
    mag = np.abs(attr)
    total = mag.sum(axis=1)
    inside = (mag * mask).sum(axis=1)
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def rank_accuracy(attr: np.ndarray, mask: np.ndarray) -> float:
    """Mean share of the top-|M| attributions (by magnitude) that fall inside M."""
    mag = np.abs(attr)
    sizes = mask.sum(axis=1)
    order = np.argsort(-mag, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(mag.shape[1])[None, :], axis=1)
    hits = ((ranks < sizes[:, None]) & mask).sum(axis=1)
    return float(np.mean(np.divide(hits, np.maximum(sizes, 1))))


def enrichment(
    attr: np.ndarray,
    mask: np.ndarray,
    valid: np.ndarray,
    null_masks: list[np.ndarray],
    *,
    idx: np.ndarray,
    confidence: float,
) -> Enrichment:
    """E = mean(rho) / mean(a) with a bootstrap CI, a Wilcoxon test on rho - a, and a
    permutation null that moves the mask to other positions.

    `valid` marks the positions that count towards the area (non-pad tokens; all pixels).
    """
    attr = np.where(valid, attr, 0.0)
    rho = mass_ratio(attr, mask & valid)
    area = (mask & valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    point = float(rho.mean() / area.mean())
    boot = rho[idx].mean(axis=1) / area[idx].mean(axis=1)
    low, high = percentile_ci(boot, confidence)
    diff = rho - area
    wil_p = float(sps.wilcoxon(diff, alternative="greater").pvalue) if np.any(diff != 0) else 1.0
    null_e = [float(mass_ratio(attr, m & valid).mean() / area.mean()) for m in null_masks]
    null_value = float(np.mean(null_e)) if null_e else float("nan")
    perm_p = (1 + sum(e >= point for e in null_e)) / (1 + len(null_e))
    return Enrichment(
        rho=float(rho.mean()),
        area=float(area.mean()),
        value=point,
        ci_low=low,
        ci_high=high,
        rank_accuracy=rank_accuracy(attr, mask & valid),
        wilcoxon_p=wil_p,
        null_value=null_value,
        permutation_p=float(perm_p),
    )


def enrichment_gain(
    attr: np.ndarray,
    attr_random: np.ndarray,
    mask: np.ndarray,
    valid: np.ndarray,
    *,
    idx: np.ndarray,
    confidence: float,
) -> tuple[float, float, float]:
    """E(trained) - max(1, E(randomized model)), paired over rows.

    Positive only when the artifact holds more than its area's share of attribution AND more
    than the same explainer gives it on a model with randomized top layers (Adebayo et al.
    2018): an explainer blind to the weights cannot earn a positive gain.
    """
    m = mask & valid
    area = m.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    rho = mass_ratio(np.where(valid, attr, 0.0), m)
    rho_r = mass_ratio(np.where(valid, attr_random, 0.0), m)

    def gain(r: np.ndarray, rr: np.ndarray, a: np.ndarray) -> np.ndarray:
        return r / a - np.maximum(1.0, rr / a)

    point = float(gain(rho.mean(), rho_r.mean(), area.mean()))
    boot = gain(rho[idx].mean(axis=1), rho_r[idx].mean(axis=1), area[idx].mean(axis=1))
    low, high = percentile_ci(boot, confidence)
    return point, low, high


def rank_correlation(a: np.ndarray, b: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean per-row Spearman correlation of |a| and |b| over the valid positions.

    Positions outside `valid` (text padding) are left out: they are zero in both maps and
    would inflate the correlation. Rows with a constant map are skipped.
    """
    keep = np.ones(a.shape, dtype=bool) if valid is None else valid
    ra = sps.rankdata(np.where(keep, np.abs(a), np.nan), axis=1, nan_policy="omit")
    rb = sps.rankdata(np.where(keep, np.abs(b), np.nan), axis=1, nan_policy="omit")
    ra = np.where(keep, ra - np.nanmean(ra, axis=1, keepdims=True), 0.0)
    rb = np.where(keep, rb - np.nanmean(rb, axis=1, keepdims=True), 0.0)
    denom = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    ok = denom > 0
    if not ok.any():
        return 0.0
    return float(np.mean((ra * rb).sum(axis=1)[ok] / denom[ok]))


def attribution_shares(
    attr: np.ndarray, idx: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S_j = mean|A_j| / sum_k mean|A_k| per feature, with bootstrap CIs over rows."""
    mag = np.abs(attr)
    means = mag.mean(axis=0)
    total = means.sum()
    share = means / total if total > 0 else np.zeros_like(means)
    boot = mag[idx].mean(axis=1)  # (B, F)
    boot_total = boot.sum(axis=1, keepdims=True)
    boot_share = np.divide(boot, boot_total, out=np.zeros_like(boot), where=boot_total > 0)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(boot_share, [tail, 100 - tail], axis=0)
    return share, low, high


def paired_greater_p(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p that a > b (1.0 when all pairs tie)."""
    diff = a - b
    if not np.any(diff != 0):
        return 1.0
    return float(sps.wilcoxon(diff, alternative="greater").pvalue)
