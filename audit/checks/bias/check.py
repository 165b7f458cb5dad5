"""The bias check: group rates, fairness aggregates and impact ratios, each with its uncertainty.

For every sensitive feature and every intersection of them, and for each class one-vs-rest
when the task is multiclass, it measures per group the rates fairlearn defines (Wilson
intervals), the calibration error, the impact ratio against the most-selected group, and
fairlearn's aggregates (bootstrap intervals). Groups below the minimum size are measured and
carry their `n`, and the aggregates span every group, so an aggregate's `n` (its smallest
group's) lets the policy call it `insufficient_data`; no group silently vanishes. Only when
the policy excludes groups under a share of the rows (NYC LL144) do the aggregates and impact
ratios leave them out, and then each is declared by an `excluded_share` metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Unpack

import numpy as np
from PIL import Image

from audit.checks.base import CheckContext, CheckOutput
from audit.checks.bias._bootstrap import Intervals, Target, bootstrap_intervals
from audit.checks.bias._groups import Partition, Scope, partition
from audit.checks.bias._power import (
    aggregate_power,
    detectable_metric,
    impact_power,
    percentile_basis,
    wilson_bases,
)
from audit.checks.bias._rates import (
    AGGREGATE_NAMES,
    RATE_NAMES,
    aggregates,
    calibration_table,
    confusion_table,
    expected_calibration_error,
    group_rates,
    one_vs_rest,
    rate_parts,
    to_scope,
)
from audit.checks.bias._sentences import sentences
from audit.checks.bias.evidence import BiasEvidence, GroupImages
from audit.checks.bias.spec import BiasSpec
from audit.errors import DataError, SpecError
from audit.records import EXCLUDED_SHARE, IntervalBasis, Metric, PowerBasis, SubjectKeys
from audit.stats import wilson_interval
from audit.streams import stream

CHECK = "bias"
UNKNOWN_COUNT = "unknown_count"
_LENGTHS = "labels ({0}), predictions ({1}) and sensitive columns ({2}) differ in length."
_CLASS_RANGE = "{0} holds class ids outside 0..{1} (the model has {2} outputs)."
_BAD_PROBA = "predicted probabilities hold NaN or infinite values."
_UNKNOWN_BINS = "binning is set for {0}, which is not a sensitive column."


@dataclass(frozen=True)
class _Setting:
    config: BiasSpec
    confidence: float
    min_group_size: int
    exclusion: tuple[float, str] | None  # the policy's (below_share, justification)


def _validated(ctx: CheckContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(ctx.data.y, dtype=np.int64)
    y_pred = np.asarray(ctx.predictions.label, dtype=np.int64)
    proba = np.asarray(ctx.predictions.proba, dtype=np.float64)
    # A frame without columns (no sensitive features) may also have lost its rows.
    n_rows = len(ctx.data.sensitive) if ctx.data.sensitive.shape[1] else len(y)
    if not (len(y) == len(y_pred) == len(proba) == n_rows):
        raise DataError(_LENGTHS.format(len(y), len(y_pred), n_rows), where="bias check")
    k = proba.shape[1]
    for name, values in (("the label", y), ("the predictions", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= k):
            raise DataError(_CLASS_RANGE.format(name, k - 1, k), where="bias check")
    if not np.all(np.isfinite(proba)):
        raise DataError(_BAD_PROBA, where="bias check")
    return y, y_pred, proba


class _Counted(SubjectKeys, total=False):
    """A metric's subject and its `n`."""

    n: int | None


def _metric(
    name: str,
    value: float,
    *,
    ci_low: float | None = None,
    ci_high: float | None = None,
    interval: IntervalBasis | None = None,
    power: PowerBasis | None = None,
    **keys: Unpack[_Counted],
) -> Metric | None:
    """A Metric, or None when the value is undefined (metrics must be finite)."""
    # math.isfinite, not np.isfinite: this runs once per group and metric (10,000 groups give
    # 90,000 calls), and numpy's scalar path costs ten times as much.
    if not math.isfinite(value):
        return None
    low = high = None
    if (
        ci_low is not None
        and ci_high is not None
        and math.isfinite(ci_low)
        and math.isfinite(ci_high)
    ):
        # The percentile bootstrap of a max-minus-min gap is biased away from zero: near parity
        # every resample's gap exceeds the observed one, and the interval would exclude the
        # estimate. The reported interval always brackets the estimate (widened to it).
        low, high = min(ci_low, value), max(ci_high, value)
    return Metric(
        check=CHECK,
        name=name,
        value=float(value),
        ci_low=None if low is None else float(low),
        ci_high=None if high is None else float(high),
        interval=interval,
        power=power,
        **keys,
    )


def _included(n: np.ndarray, exclusion: tuple[float, str] | None) -> np.ndarray:
    """Groups the aggregates and impact ratios span: every group, unless the policy excludes.

    Spanning every group is what keeps a small group visible: the aggregate's `n` is its
    smallest group's, so the policy reports it as `insufficient_data`. With an exclusion, groups
    under `below_share` of the rows are left out; one that would leave fewer than two groups is
    not made, and the aggregate again spans (and is sized by) every group.
    """
    everyone = np.ones(n.shape, dtype=bool)
    if exclusion is None:
        return everyone
    kept = n >= exclusion[0] * n.sum()
    return kept if kept.sum() >= 2 else everyone


def _reference(n: np.ndarray, included: np.ndarray, min_group_size: int) -> np.ndarray:
    """The groups an impact ratio's most-selected group is taken from: the spanned groups of
    at least the minimum size (all spanned groups when none is that large).

    An 11-person group's selection rate is noise; as the reference it would turn every other
    group's ratio into noise too. The small group keeps its own ratio (and its n), so the
    policy still reports it as insufficient data, and the aggregates still span it.
    """
    big = included & (n >= min_group_size)
    return big if big.any() else included


def _declared(scope: Scope, n: np.ndarray, included: np.ndarray) -> list[Metric]:
    """One `excluded_share` metric per excluded group: its share of the rows, and its size."""
    total = int(n.sum())
    return [
        Metric(CHECK, EXCLUDED_SHARE, int(n[g]) / total, feature=scope.name, group=label, n=n[g])
        for g, label in enumerate(scope.labels)
        if not included[g]
    ]


def _unknown_counts(part: Partition) -> list[Metric]:
    """Rows with no recorded value per feature (NYC LL144 publishes this "unknown" count).

    Given for every feature, zero included, so a rule can require it; `n` is all the rows.
    """
    rows = len(part.fine)
    return [Metric(CHECK, UNKNOWN_COUNT, f.missing, feature=f.name, n=rows) for f in part.features]


def _group_metrics(
    scope: Scope,
    method: str | None,
    counts: tuple[np.ndarray, ...],
    rates: dict[str, np.ndarray],
    ece: np.ndarray,
    impact: np.ndarray | None,
    intervals: Intervals | None,
    confidence: float,
    reference: np.ndarray | None,
) -> list[Metric | None]:
    tp, fp, fn, tn = counts
    parts = rate_parts(tp, fp, fn, tn)
    n = (tp + fp + fn + tn).astype(np.int64).tolist()
    out: list[Metric | None] = []
    for name in RATE_NAMES:
        num, den = parts[name]
        low, high = (a.tolist() for a in wilson_interval(num, den, confidence))
        values = rates[name].tolist()
        bases = wilson_bases(num, den, confidence)
        for g, label in enumerate(scope.labels):
            out.append(
                _metric(
                    name,
                    values[g],
                    feature=scope.name,
                    group=label,
                    method=method,
                    n=n[g],
                    ci_low=low[g],
                    ci_high=high[g],
                    interval=bases[g],
                )
            )
    impact_bases = impact_power(parts, reference) if reference is not None else None
    percentile = percentile_basis(confidence)
    ece_values = ece.tolist()
    for g, label in enumerate(scope.labels):
        keys: _Counted = {"feature": scope.name, "group": label, "method": method, "n": int(n[g])}
        out.append(_metric("expected_calibration_error", ece_values[g], **keys))
        if intervals is not None and impact_bases is not None and impact is not None:
            out.append(
                _metric(
                    "impact_ratio",
                    float(impact[g]),
                    ci_low=float(intervals.impact_low[g]),
                    ci_high=float(intervals.impact_high[g]),
                    interval=percentile,
                    power=impact_bases[g],
                    **keys,
                )
            )
    return out


_EXAMPLE_GROUPS = 8  # groups shown per feature
_EXAMPLES_PER_GROUP = 4


class BiasCheck:
    """Fairness across groups: fairlearn's rates and aggregates with honest intervals."""

    def measure(self, ctx: CheckContext) -> CheckOutput:
        config = ctx.config if isinstance(ctx.config, BiasSpec) else BiasSpec()
        setting = _Setting(
            config=config,
            confidence=config.confidence or ctx.confidence,
            min_group_size=ctx.min_group_size,
            exclusion=ctx.exclude_small_groups,
        )
        y, y_pred, proba = _validated(ctx)
        frame = ctx.data.sensitive
        unknown = sorted(set(config.bins) - {str(c) for c in frame.columns})
        if unknown:
            raise SpecError(
                _UNKNOWN_BINS.format(", ".join(map(repr, unknown))),
                where="data.bins",
                fix="bin only columns listed in `data.sensitive`.",
            )
        if frame.shape[1] == 0 or len(frame) == 0:
            return CheckOutput(metrics=(), evidence=_evidence([], setting, None))
        part = partition(
            frame,
            bins=config.bins,
            intersections=config.intersections,
            max_groups=config.max_groups,
            max_intersection_groups=config.max_intersection_groups,
        )
        metrics = _measure(part, y, y_pred, proba, setting, np.random.default_rng(ctx.seed))
        evidence = _evidence(metrics, setting, part)
        if ctx.data.modality == "image":
            evidence = replace(evidence, examples=_group_images(ctx, part))
        return CheckOutput(metrics=tuple(metrics), evidence=evidence)


def _group_images(ctx: CheckContext, part: Partition) -> GroupImages:
    """A few seeded images per group of each sensitive feature, as small uint8 thumbnails
    (own random stream: the metrics' draws are untouched)."""
    out = []
    raw = ctx.data.value_bounds is not None
    for feature in part.features:
        rng = stream(ctx.seed, "bias", "examples", feature.name)
        groups = []
        for code, label in enumerate(feature.labels[:_EXAMPLE_GROUPS]):
            rows = np.flatnonzero(feature.codes == code)
            if len(rows):
                picked = np.sort(
                    rng.choice(rows, min(_EXAMPLES_PER_GROUP, len(rows)), replace=False)
                )
                groups.append((label, thumbnails(ctx.data.x[picked], raw)))
        out.append((feature.name, tuple(groups)))
    return tuple(out)


def thumbnails(images: np.ndarray, raw: bool, side: int = 64) -> np.ndarray:
    """(k, C, H, W) images as (k, h, w, 3) uint8, the longer side at most `side`. Decoded
    image files (`raw`) are in [0, 1]; a preprocessed `.npz` image is stretched to its range."""
    out = []
    for image in np.asarray(images, dtype=np.float32):
        if not raw:
            lo, hi = float(image.min()), float(image.max())
            image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
        pixels = (np.clip(image, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)
        picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        picture.thumbnail((side, side), Image.Resampling.LANCZOS)
        out.append(np.asarray(picture.convert("RGB")))
    return np.stack(out)


def _measure(
    part: Partition,
    y: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray,
    setting: _Setting,
    rng: np.random.Generator,
) -> list[Metric]:
    n_classes = proba.shape[1]
    classes = [1] if n_classes == 2 else list(range(n_classes))
    table = confusion_table(part.fine, y, y_pred, part.n_fine, n_classes)
    bins = setting.config.calibration_bins
    calibration = {
        k: calibration_table(part.fine, proba[:, k], (y == k).astype(np.float64), part.n_fine, bins)
        for k in classes
    }
    jobs = []
    scope_tables: dict[str, np.ndarray] = {}
    references: dict[str, np.ndarray] = {}
    for scope in part.scopes:
        groups = len(scope.labels)
        scope_table = to_scope(table, scope.fine_to_group, groups)
        scope_tables[scope.name] = scope_table
        n = scope_table.sum(axis=(1, 2))
        included = _included(n, setting.exclusion) if groups >= 2 else None
        if included is not None:
            references[scope.name] = _reference(n, included, setting.min_group_size)
        jobs += [(scope, k, one_vs_rest(scope_table, k), included) for k in classes]
    targets = [
        Target(scope, k, inc, references[scope.name])
        for scope, k, _, inc in jobs
        if inc is not None
    ]
    intervals = iter(
        bootstrap_intervals(
            scope_tables,
            targets,
            n_boot=setting.config.n_boot,
            confidence=setting.confidence,
            rng=rng,
        )
    )
    metrics: list[Metric | None] = [*_unknown_counts(part)]
    for scope, k, counts, included in jobs:
        method = None if n_classes == 2 else f"class={k}"
        n = np.sum(counts, axis=0).astype(np.int64)
        if k == classes[0]:
            metrics += [
                _metric("count", float(v), feature=scope.name, group=g, n=int(v))
                for g, v in zip(scope.labels, n, strict=True)
            ]
            if included is not None:
                metrics += _declared(scope, n, included)
        ece = expected_calibration_error(
            to_scope(calibration[k], scope.fine_to_group, len(scope.labels))
        )
        rates = group_rates(*counts)
        ci = next(intervals) if included is not None else None
        reference = references.get(scope.name)
        values, impact = (
            aggregates(*counts, included, reference)
            if included is not None and reference is not None
            else ({}, None)
        )
        metrics += _group_metrics(
            scope, method, counts, rates, ece, impact, ci, setting.confidence, reference
        )
        if ci is None or included is None:
            continue
        smallest = int(n[included].min())
        powers = aggregate_power(rate_parts(*counts), included)
        metrics += [
            _metric(
                name,
                float(values[name]),
                feature=scope.name,
                method=method,
                n=smallest,
                ci_low=ci.aggregate_low[name],
                ci_high=ci.aggregate_high[name],
                interval=percentile_basis(setting.confidence),
                power=powers[name],
            )
            for name in AGGREGATE_NAMES
        ]
        metrics.append(
            detectable_metric(
                rate_parts(*counts), included, setting.confidence, feature=scope.name, method=method
            )
        )
    return [m for m in metrics if m is not None]


def _evidence(metrics: list[Metric], setting: _Setting, part: Partition | None) -> BiasEvidence:
    features = part.features if part is not None else ()
    return BiasEvidence(
        justification=setting.exclusion[1] if setting.exclusion else "",
        sentences=tuple(
            sentences(
                metrics,
                min_group_size=setting.min_group_size,
                confidence=setting.confidence,
                missing={f.name: f.missing for f in features if f.missing},
                skipped=part.skipped if part is not None else (),
                max_intersection_groups=setting.config.max_intersection_groups,
                below_share=setting.exclusion[0] if setting.exclusion else None,
            )
        ),
    )
