"""Controlled inputs for a probe: the artifact, its removal, and the two nulls.

Every builder returns `Variants`: named copies of the same rows, each paired row-for-row with
the original, plus the artifact's mask for attribution. Nulls (docs/methods.md):
- `location_null`: the same artifact at a random other position of the same size (images);
- `content_null`: other content at the same place (random patch values; tokens drawn with
  their corpus frequency).
Tabular features have no location and their null is exact: an ignored column flips nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audit.checks.spurious.spec import FeatureProbe, PatchProbe, TokenProbe
from audit.errors import DataError, SpecError

_PATTERN_SHAPE = "pattern has shape {got}; expected ({h}, {w}) or ({c}, {h}, {w}) for the region."
_UNKNOWN_FEATURE = "probe feature {name!r} is not one of the model's features."
_MIN_CARRIERS = 10


@dataclass(frozen=True)
class Variant:
    """One controlled copy: `rows` index the sampled originals, `x` holds the modified inputs."""

    rows: np.ndarray
    x: np.ndarray
    mask: np.ndarray | None = None  # (n, P) boolean over flattened positions, for attribution
    # raw text: the edited texts, the word of each token (-1: special or padding) and, per
    # text, the words the edit placed
    texts: tuple[str, ...] | None = None
    word_ids: np.ndarray | None = None
    marked: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True)
class Variants:
    """The artifact variants (`insert`, `remove`, ...) and, for each, its applicable nulls."""

    artifacts: dict[str, Variant]
    nulls: dict[str, dict[str, Variant]]
    null_masks: list[np.ndarray] = field(default_factory=list)  # moved masks, (H*W,) each


# ---------------------------------------------------------------- images


def _patch_content(probe: PatchProbe, channels: int, h: int, w: int) -> np.ndarray:
    """(C, h, w) artifact content from a constant value or a .npy pattern."""
    if probe.pattern is None:  # the spec model requires exactly one of `value` and `pattern`
        return np.full((channels, h, w), probe.value, dtype=np.float32)
    try:
        pattern = np.load(probe.pattern, allow_pickle=False)
    except Exception as exc:
        raise SpecError(
            f"could not read the patch pattern: {exc}",
            where=str(probe.pattern),
            fix="save a numeric array with numpy.save.",
        ) from None
    if pattern.shape == (h, w):
        pattern = np.broadcast_to(pattern, (channels, h, w))
    if pattern.shape != (channels, h, w):
        raise SpecError(
            _PATTERN_SHAPE.format(got=pattern.shape, h=h, w=w, c=channels),
            where=str(probe.pattern),
        )
    return np.asarray(pattern, dtype=np.float32)


def region_mask(shape: tuple[int, int], r: int, c: int, h: int, w: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[r : r + h, c : c + w] = True
    return mask


def _other_positions(
    hw: tuple[int, int], region: list[int], k: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Up to k random top-left corners whose box does not overlap the probe's region."""
    r0, c0, h, w = region
    grid = np.meshgrid(np.arange(hw[0] - h + 1), np.arange(hw[1] - w + 1), indexing="ij")
    rows, cols = grid[0].ravel(), grid[1].ravel()
    apart = (np.abs(rows - r0) >= h) | (np.abs(cols - c0) >= w)
    choices = np.flatnonzero(apart)
    if choices.size == 0:
        return []
    picked = rng.choice(choices, size=min(k, choices.size), replace=False)
    return [(int(rows[i]), int(cols[i])) for i in picked]


def _paste(x: np.ndarray, content: np.ndarray, corners: np.ndarray, h: int, w: int) -> np.ndarray:
    """Copy of x with content (n, C, h, w) pasted at per-row corners (n, 2), vectorized."""
    out = x.copy()
    n = len(x)
    rr = corners[:, 0, None, None] + np.arange(h)[None, :, None]
    cc = corners[:, 1, None, None] + np.arange(w)[None, None, :]
    rows = np.arange(n)[:, None, None]
    out.transpose(0, 2, 3, 1)[rows, rr, cc] = content.transpose(0, 2, 3, 1)
    return out


def carries_patch(x: np.ndarray, region: list[int], content: np.ndarray) -> np.ndarray:
    r, c, h, w = region
    return np.all(
        np.isclose(x[:, :, r : r + h, c : c + w], content[None], atol=1e-6), axis=(1, 2, 3)
    )


def image_variants(probe: PatchProbe, x: np.ndarray, k: int, rng: np.random.Generator) -> Variants:
    """Insert on rows without the artifact, remove on rows with it; nulls for each."""
    _, ch, height, width = x.shape
    probe.check_fits(height, width, "checks.spurious.probes.region")
    region = probe.pixels(height, width)
    r, c, h, w = region
    content = _patch_content(probe, ch, h, w)
    lo, hi = float(x.min()), float(x.max())
    carrier = carries_patch(x, region, content)
    positions = _other_positions((height, width), region, k, rng)
    flat_mask = region_mask((height, width), r, c, h, w).ravel()
    null_masks = [region_mask((height, width), pr, pc, h, w).ravel() for pr, pc in positions]

    def at(rows: np.ndarray, src: np.ndarray, corner: np.ndarray) -> np.ndarray:
        return _paste(x[rows], src, corner, h, w)

    home = np.array([r, c])
    artifacts: dict[str, Variant] = {}
    nulls: dict[str, dict[str, Variant]] = {}
    clean = np.flatnonzero(~carrier)
    if clean.size:
        m = len(clean)
        same = np.broadcast_to(content, (m, ch, h, w))
        corners = np.broadcast_to(home, (m, 2))
        artifacts["insert"] = Variant(clean, at(clean, same, corners), _masks(flat_mask, m))
        nulls["insert"] = {
            "content_null": Variant(
                clean, at(clean, rng.uniform(lo, hi, (m, ch, h, w)).astype(np.float32), corners)
            )
        }
        if positions:
            moved = np.array(positions)[rng.integers(0, len(positions), m)]
            nulls["insert"]["location_null"] = Variant(clean, at(clean, same, moved))
    dirty = np.flatnonzero(carrier)
    if dirty.size >= _MIN_CARRIERS and clean.size:
        m = len(dirty)
        background = x[clean][:, :, r : r + h, c : c + w].mean(axis=0)
        bg = np.broadcast_to(background, (m, ch, h, w))
        corners = np.broadcast_to(home, (m, 2))
        artifacts["remove"] = Variant(dirty, at(dirty, bg, corners), _masks(flat_mask, m))
        nulls["remove"] = {}
        if positions:
            moved = np.array(positions)[rng.integers(0, len(positions), m)]
            nulls["remove"]["location_null"] = Variant(dirty, at(dirty, bg, moved))
    return Variants(artifacts, nulls, null_masks)


def _masks(flat: np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(flat, (n, flat.size))


# ---------------------------------------------------------------- text


def _lengths(x: np.ndarray, pad_id: int) -> np.ndarray:
    """Non-pad length of each row (pads are trailing by convention; counted, not located)."""
    return (x != pad_id).sum(axis=1)


def _insert_tokens(
    x: np.ndarray, tokens: np.ndarray, positions: np.ndarray, pad_id: int
) -> np.ndarray:
    """Insert token ids into each row before sorted `positions` (n, t), shifting right.

    Rows are compacted first (non-pad tokens in order), so the result is well defined even when
    pads are not trailing; what overflows the fixed length is dropped.
    """
    n, length = x.shape
    t = tokens.shape[-1]
    keep = x != pad_id
    # destination of each original token: its rank among kept tokens + insertions before it
    rank = np.cumsum(keep, axis=1) - 1
    shift = (positions[:, None, :] <= rank[:, :, None]).sum(axis=2)
    out = np.full((n, length + t), pad_id, dtype=x.dtype)
    rows = np.broadcast_to(np.arange(n)[:, None], x.shape)
    out[rows[keep], (rank + shift)[keep]] = x[keep]
    slots = positions + np.arange(t)[None, :]
    out[np.arange(n)[:, None], slots] = tokens[None, :] if tokens.ndim == 1 else tokens
    return out[:, :length]


def text_variants(
    probe: TokenProbe, x: np.ndarray, pad_id: int, rng: np.random.Generator
) -> Variants:
    """Insert the tokens at random positions; content null: random other tokens there.

    A location null does not apply: the artifact already sits at random positions, and a
    bag-of-words model cannot tell positions apart.
    """
    tokens = np.asarray(probe.tokens, dtype=np.int64)
    length = x.shape[1]
    lengths = _lengths(x, pad_id)
    carrier = np.all(np.stack([(x == t).any(axis=1) for t in tokens]), axis=0)
    clean = np.flatnonzero(~carrier)
    t = tokens.size
    artifacts: dict[str, Variant] = {}
    nulls: dict[str, dict[str, Variant]] = {}
    if clean.size:
        m = len(clean)
        room = np.minimum(lengths[clean], length - t)
        positions = np.sort(
            np.floor(rng.random((m, t)) * (room[:, None] + 1)).astype(np.int64), axis=1
        )
        inserted = _insert_tokens(x[clean], tokens, positions, pad_id)
        slots = positions + np.arange(t)[None, :]
        mask = np.zeros((m, length), dtype=bool)
        mask[np.arange(m)[:, None], slots] = True
        other = _typical_tokens(x, np.append(tokens, pad_id), (m, t), rng)
        artifacts["insert"] = Variant(clean, inserted, mask)
        nulls["insert"] = {
            "content_null": Variant(clean, _insert_tokens(x[clean], other, positions, pad_id))
        }
    return Variants(artifacts, nulls)


def _typical_tokens(
    x: np.ndarray, exclude: np.ndarray, size: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """Tokens drawn with their corpus frequency (typical content, not a uniform vocabulary
    draw that would over-sample rare, loaded words), excluding the probe's and the pad."""
    ids, counts = np.unique(x, return_counts=True)
    keep = ~np.isin(ids, exclude)
    if not keep.any():
        raise DataError(
            "the text data has no tokens besides the probe's and the pad id; "
            "a content null cannot be drawn.",
            where="data.path",
        )
    weights = counts[keep] / counts[keep].sum()
    return rng.choice(ids[keep], size=size, p=weights)


# ---------------------------------------------------------------- tabular


def feature_index(probe: FeatureProbe, names: tuple[str, ...]) -> int:
    if probe.feature not in names:
        raise SpecError(
            _UNKNOWN_FEATURE.format(name=probe.feature),
            where="checks.spurious.probes.feature",
            fix="use a name from `data.features`: " + ", ".join(names[:12]),
        )
    return names.index(probe.feature)


def feature_variants(
    probe: FeatureProbe, x: np.ndarray, names: tuple[str, ...], rng: np.random.Generator
) -> Variants:
    """Permute the column across rows, swap each value to a different observed one, and set it
    to a reference (the median). The null is exact zero, so no null variants are built."""
    j = feature_index(probe, names)
    n = len(x)
    rows = np.arange(n)
    col = x[:, j]
    values = np.unique(col)

    def with_col(new: np.ndarray) -> np.ndarray:
        out = x.copy()
        out[:, j] = new
        return out

    artifacts = {"permute": Variant(rows, with_col(col[rng.permutation(n)]))}
    if values.size > 1:
        # a uniformly drawn *different* observed value: draw among the other size-1 values
        pos = np.searchsorted(values, col)
        draw = rng.integers(0, values.size - 1, n)
        artifacts["swap"] = Variant(rows, with_col(values[draw + (draw >= pos)]))
    artifacts["reference"] = Variant(rows, with_col(np.full(n, np.median(col), dtype=x.dtype)))
    return Variants(artifacts, {k: {} for k in artifacts})


def read_vocab(path: Path | None) -> list[str] | None:
    """Token strings by id, one per line, for readable text evidence."""
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SpecError(f"cannot read the vocabulary: {exc}", where=str(path)) from None
