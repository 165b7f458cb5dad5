"""Turn raw sensitive columns into integer group codes: per feature and per intersection.

Every row gets one *fine* group (its combination of all sensitive values). Each feature and
each intersection of features (a *scope*) is then a map from fine groups to its own groups,
so counts taken once at the fine level serve every scope. Missing values become an explicit
group, numeric columns are binned, and nothing is dropped.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.binning import Binning
from audit.errors import DataError

MISSING = "(missing)"
SEPARATOR = "*"

_TOO_MANY_GROUPS = "sensitive column {0!r} has {1} distinct values, more than max_groups={2}."
_TOO_MANY_FIX_NUMERIC = "bin it with `data.bins.{0}: {{quantiles: 4}}` (or explicit `edges`)."
_TOO_MANY_FIX_CATEGORICAL = "merge rare categories before the audit, or raise `max_groups`."
_BIN_NOT_NUMERIC = "binning is set for sensitive column {0!r}, but it is not numeric."
_BIN_NOT_FINITE = "sensitive column {0!r} holds infinite values, which cannot be binned."
_MISSING_CLASH = "sensitive column {0!r} has both missing values and the literal value {1!r}."


@dataclass(frozen=True)
class Feature:
    """One sensitive column as codes 0..len(labels)-1."""

    name: str
    codes: np.ndarray  # int32 (N,)
    labels: tuple[str, ...]
    missing: int  # rows whose value was missing


@dataclass(frozen=True)
class Scope:
    """A feature or an intersection of features, as a map from fine groups to its groups."""

    name: str  # "sex" or "sex*race"
    members: tuple[str, ...]
    fine_to_group: np.ndarray  # int64 (n_fine,)
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Partition:
    """The fine grouping of the rows and every scope derived from it."""

    fine: np.ndarray  # int64 (N,) fine group of each row
    n_fine: int
    features: tuple[Feature, ...]
    scopes: tuple[Scope, ...]
    skipped: tuple[tuple[str, int], ...] = ()  # intersections too fine to measure: (name, groups)


def _label(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def _num(x: float) -> str:
    return f"{x:g}"


def _bin(name: str, values: np.ndarray, binning: Binning) -> tuple[np.ndarray, list[str]]:
    """Bin indices and labels of finite values; the labels say the interval in plain form."""
    if not np.all(np.isfinite(values)):
        raise DataError(_BIN_NOT_FINITE.format(name), where=f"data.sensitive: {name}")
    if binning.quantiles is None:  # Binning gives exactly one of `edges` and `quantiles`
        edges = np.asarray(binning.edges, dtype=np.float64)
        index = np.searchsorted(edges, values, side="right")
        labels = [f"< {_num(edges[0])}"]
        labels += [f"[{_num(a)}, {_num(b)})" for a, b in itertools.pairwise(edges)]
        labels.append(f">= {_num(edges[-1])}")
        return index, labels
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    qs: np.ndarray | list[float] = (
        np.quantile(values, np.linspace(0, 1, binning.quantiles + 1)) if values.size else []
    )
    inner = np.unique(np.asarray(qs)[1:-1])
    index = np.searchsorted(inner, values, side="right")
    bounds = [lo, *inner.tolist(), hi]
    labels = [f"[{_num(a)}, {_num(b)})" for a, b in itertools.pairwise(bounds)]
    if labels:
        labels[-1] = labels[-1][:-1] + "]"
    return index, labels


def encode_feature(
    name: str, series: pd.Series, binning: Binning | None, max_groups: int
) -> Feature:
    """Codes for one sensitive column, with missing values as the group `(missing)`."""
    missing = series.isna().to_numpy()
    present = series[~missing]
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if binning is not None:
        if not numeric:
            raise DataError(_BIN_NOT_NUMERIC.format(name), where=f"data.bins.{name}")
        raw_index, raw_labels = _bin(name, present.to_numpy(dtype=np.float64), binning)
        seen = np.flatnonzero(np.bincount(raw_index, minlength=len(raw_labels)))
        remap = np.full(len(raw_labels), -1, dtype=np.int64)
        remap[seen] = np.arange(seen.size)
        present_codes = remap[raw_index]
        labels = [raw_labels[i] for i in seen]
    else:
        values = present if numeric else present.astype(str)
        present_codes, uniques = pd.factorize(values, sort=True)
        labels = [_label(u) for u in uniques]
        if len(labels) > max_groups:
            fix = (_TOO_MANY_FIX_NUMERIC if numeric else _TOO_MANY_FIX_CATEGORICAL).format(name)
            raise DataError(
                _TOO_MANY_GROUPS.format(name, len(labels), max_groups),
                where=f"data.sensitive: {name}",
                fix=fix,
            )
    n_missing = int(missing.sum())
    codes = np.empty(len(series), dtype=np.int32)
    codes[~missing] = present_codes
    if n_missing:
        if MISSING in labels:
            raise DataError(
                _MISSING_CLASH.format(name, MISSING),
                where=f"data.sensitive: {name}",
                fix="rename that value before the audit.",
            )
        codes[missing] = len(labels)
        labels.append(MISSING)
    return Feature(name=name, codes=codes, labels=tuple(labels), missing=n_missing)


def _fine(features: tuple[Feature, ...], n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Fine group of each row, and the per-feature codes of each fine group (n_fine, F)."""
    sizes = [len(f.labels) for f in features]
    space = math.prod(sizes)
    if space >= 2**62:  # a mixed-radix key would overflow int64: sort the code rows instead
        rows = np.stack([f.codes for f in features], axis=1)
        per_feature, fine = np.unique(rows, axis=0, return_inverse=True)
        return fine.reshape(-1).astype(np.int64), per_feature.astype(np.int64)
    radix = np.array([math.prod(sizes[i + 1 :]) for i in range(len(sizes))], dtype=np.int64)
    key = np.zeros(n_rows, dtype=np.int64)
    for f, r in zip(features, radix, strict=True):
        key += f.codes.astype(np.int64) * r
    if space <= max(4 * n_rows, 1 << 16):
        present = np.flatnonzero(np.bincount(key, minlength=space))
        lookup = np.zeros(space, dtype=np.int64)
        lookup[present] = np.arange(present.size)
        fine, keys = lookup[key], present
    else:
        keys, fine = np.unique(key, return_inverse=True)
    per_feature = (keys[:, None] // radix[None, :]) % np.asarray(sizes, dtype=np.int64)[None, :]
    return fine.astype(np.int64), per_feature


def _scope(
    members: tuple[int, ...], features: tuple[Feature, ...], per_feature: np.ndarray
) -> Scope:
    sub = per_feature[:, list(members)]
    keys, fine_to_group = np.unique(sub, axis=0, return_inverse=True)
    labels = tuple(
        SEPARATOR.join(features[m].labels[c] for m, c in zip(members, row, strict=True))
        for row in keys
    )
    names = tuple(features[m].name for m in members)
    return Scope(
        name=SEPARATOR.join(names),
        members=names,
        fine_to_group=fine_to_group.reshape(-1).astype(np.int64),
        labels=labels,
    )


def partition(
    frame: pd.DataFrame,
    *,
    bins: Mapping[str, Binning],
    intersections: bool,
    max_groups: int,
    max_intersection_groups: int | None = None,
) -> Partition:
    """Group the rows by every sensitive column alone and, if asked, by every intersection.

    An intersection with more groups than `max_intersection_groups` is left out and listed in
    `skipped`: almost all of its groups would be too small to judge, and measuring thousands
    of them costs more than it tells.
    """
    features = []
    for name in frame.columns:
        features.append(encode_feature(str(name), frame[name], bins.get(str(name)), max_groups))
    feats = tuple(features)
    fine, per_feature = _fine(feats, len(frame))
    orders = range(1, len(feats) + 1) if intersections else range(1, 2)
    scopes, skipped = [], []
    for order in orders:
        for members in itertools.combinations(range(len(feats)), order):
            scope = _scope(members, feats, per_feature)
            limit = max_intersection_groups
            if order > 1 and limit is not None and len(scope.labels) > limit:
                skipped.append((scope.name, len(scope.labels)))
            else:
                scopes.append(scope)
    return Partition(
        fine=fine,
        n_fine=len(per_feature),
        features=feats,
        scopes=tuple(scopes),
        skipped=tuple(skipped),
    )
