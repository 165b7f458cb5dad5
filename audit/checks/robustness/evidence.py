"""What the robustness check hands its report section beyond the metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Flip:
    """One input whose decision a perturbation changed: an image (C, H, W), a table row (F,)
    or the token ids of a text (padding removed), before and after."""

    perturbation: str
    level: int
    pred: int
    pred_after: int
    before: np.ndarray
    after: np.ndarray


@dataclass(frozen=True)
class TextFlip:
    """A raw text whose decision an edit changed: the texts and each edit as (before, after)
    words or word-and-separator snippets."""

    perturbation: str
    level: int
    pred: int
    pred_after: int
    before: str
    after: str
    edits: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TextEdits:
    """What a raw-text family did at each level (level 1 first)."""

    edited: tuple[int, ...]  # sampled texts it could edit (its metrics' n)
    mean_edits: tuple[float, ...]  # edits per edited text
    truncated: tuple[int, ...]  # edited texts cut at the model's maximum length


@dataclass(frozen=True)
class EpsilonCurve:
    """Accuracy under attack at each radius, from the per-example minimum flipping ε."""

    norm: str
    epsilon: tuple[float, ...]
    accuracy: tuple[float, ...]


@dataclass(frozen=True)
class MinFlipSearch:
    """How the minimum flipping ε was searched, and how many inputs never flipped."""

    n: int
    not_flipped: int
    search_max: float
    search_step: float


def _pair(values: Any) -> tuple[float, float] | None:
    return None if values is None else (float(values[0]), float(values[1]))


@dataclass(frozen=True)
class RobustnessEvidence:
    """Everything the section shows besides the metrics; every field is shown."""

    modality: str
    n: int  # rows in the robustness sample
    epsilon_units: str  # what one unit of a noise scale or attack radius means here
    notes: tuple[str, ...] = ()
    levels: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # family -> per level
    flips: tuple[Flip, ...] = ()
    text_flips: tuple[TextFlip, ...] = ()  # raw text
    columns: tuple[str, ...] = ()  # tabular feature names, for flipped rows
    # tabular: labels of integer-coded columns (`data.categories`), so rows show no codes
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    value_range: tuple[float, float] | None = None  # images: the data's value range
    neutral_tokens: tuple[int, ...] = ()  # text: ids inserted by the neutral-insertion family
    invariance_tolerance: float | None = None  # text: the CheckList INV bound on |Δp|
    text_families: Mapping[str, str] = field(default_factory=dict)  # raw text: family -> words
    text_edits: Mapping[str, TextEdits] = field(default_factory=dict)  # raw text, per family
    epsilon_curve: EpsilonCurve | None = None
    min_flip: MinFlipSearch | None = None
    attack_radius: Mapping[str, float] = field(default_factory=dict)  # norm -> FGSM/PGD radius

    @classmethod
    def from_parts(
        cls, *, modality: str, n: int, epsilon_units: str, notes: list[str], parts: dict[str, Any]
    ) -> RobustnessEvidence:
        """Assemble from the families' and the attacks' evidence; an unknown key is an error,
        so nothing a family measured can be silently left out of the report."""
        parts = dict(parts)
        flips = [*parts.pop("flipped_images", ()), *parts.pop("flipped_texts", ())]
        text_flips = tuple(
            TextFlip(
                perturbation=str(f["perturbation"]),
                level=int(f["level"]),
                pred=int(f["pred"]),
                pred_after=int(f["pred_after"]),
                before=str(f["before"]),
                after=str(f["after"]),
                edits=tuple((str(b), str(a)) for b, a in f["edits"]),
            )
            for f in parts.pop("flipped_raw_texts", ())
        )
        rows = parts.pop("flipped_rows", None)
        columns: tuple[str, ...] = ()
        categories: dict[str, tuple[str, ...]] = {}
        if rows is not None:
            columns = tuple(str(c) for c in rows["columns"])
            categories = {str(c): tuple(v) for c, v in rows.get("categories", {}).items()}
            flips += rows["rows"]
        curve = parts.pop("epsilon_curve", None)
        search = parts.pop("min_flip", None)
        value_range = parts.pop("value_range", None)
        out = cls(
            modality=modality,
            n=n,
            epsilon_units=epsilon_units,
            notes=tuple(notes),
            levels={k: tuple(map(float, v)) for k, v in parts.pop("levels", {}).items()},
            flips=tuple(
                Flip(
                    perturbation=str(f["perturbation"]),
                    level=int(f["level"]),
                    pred=int(f["pred"]),
                    pred_after=int(f["pred_after"]),
                    before=np.asarray(f["before"]),
                    after=np.asarray(f["after"]),
                )
                for f in flips
            ),
            text_flips=text_flips,
            columns=columns,
            categories=categories,
            value_range=None
            if value_range is None
            else (float(value_range[0]), float(value_range[1])),
            neutral_tokens=tuple(int(t) for t in parts.pop("neutral_tokens", ())),
            invariance_tolerance=parts.pop("invariance_tolerance", None),
            text_families={str(k): str(v) for k, v in parts.pop("text_families", {}).items()},
            text_edits={
                str(k): TextEdits(
                    edited=tuple(int(x) for x in v["edited"]),
                    mean_edits=tuple(float(x) for x in v["mean_edits"]),
                    truncated=tuple(int(x) for x in v["truncated"]),
                )
                for k, v in parts.pop("text_edits", {}).items()
            },
            epsilon_curve=None
            if curve is None
            else EpsilonCurve(
                norm=str(curve["norm"]),
                epsilon=tuple(map(float, curve["epsilon"])),
                accuracy=tuple(map(float, curve["accuracy"])),
            ),
            min_flip=None if search is None else MinFlipSearch(**search),
            attack_radius={k: float(v) for k, v in parts.pop("radius", {}).items()},
        )
        parts.pop("neutral_tokens_declared", None)  # said by `notes` when defaults were used
        if parts:
            raise KeyError(f"robustness evidence has keys no field holds: {sorted(parts)}")
        return out


__all__ = ["EpsilonCurve", "Flip", "MinFlipSearch", "RobustnessEvidence", "TextEdits", "TextFlip"]
