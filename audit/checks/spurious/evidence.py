"""What the spurious-feature check hands its report section beyond the metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.records import Metric


@dataclass(frozen=True)
class ImageExample:
    """An input beside the magnitude of its attribution, with the probed region outlined
    (`region` None: a local explanation, no artifact)."""

    probe: str
    image: np.ndarray  # (C, H, W) or (H, W)
    attribution: np.ndarray  # (H, W)
    region: tuple[int, int, int, int] | None
    pred: int
    pred_after: int
    label: int | None = None  # local explanations: the row's true label


@dataclass(frozen=True)
class TextExample:
    """A text as words (raw text) or tokens (`.npz` ids) with their signed attributions
    towards `pred_after` (positive: towards it); `marked` are the probe's words or tokens."""

    probe: str
    tokens: tuple[str, ...]
    attribution: tuple[float, ...]
    marked: tuple[int, ...]
    pred: int
    pred_after: int
    unit: str = "token"  # "word": sub-word attributions summed per word
    label: int | None = None  # local explanations: the row's true label


@dataclass(frozen=True)
class TabularExample:
    """One row's feature values with their attributions towards the predicted class, the
    label beside the prediction; `values` already decoded (`data.categories`) for display."""

    probe: str
    features: tuple[str, ...]
    values: tuple[str, ...]
    attribution: tuple[float, ...]
    pred: int
    label: int
    confidence: float  # the model's probability of `pred`


@dataclass(frozen=True)
class WordImportance:
    """A word's mean |attribution| over its occurrences in the sample, with its bootstrap
    interval (probability units: integrated gradients of the predicted class's probability)."""

    word: str
    mean: float
    ci_low: float
    ci_high: float
    count: int


Example = ImageExample | TextExample | TabularExample


@dataclass(frozen=True)
class FeatureShare:
    """A feature's share of mean |attribution|, with its bootstrap interval."""

    feature: str
    share: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class SpuriousEvidence:
    """Everything the section shows besides the metrics; every field is shown."""

    method: str  # the attribution method used
    sanity_spearman: float  # rank correlation after randomizing the top layers
    examples: tuple[Example, ...] = ()  # per probe: inputs with the artifact inserted
    local_examples: tuple[Example, ...] = ()  # misclassified or least confident inputs
    importance: tuple[FeatureShare, ...] = ()  # tabular: global importance with a shadow
    word_importance: tuple[WordImportance, ...] = ()  # raw text: the most attributed words
    sentences: tuple[str, ...] = ()
    # A ViT (audit/checks/spurious/rollout.py): attention rollout, supporting evidence. Its
    # metrics carry the gradient maps' names with `method: attention_rollout`; they are shown,
    # never handed to the policy (docs/methods.md, "Attention rollout").
    rollout_sanity_spearman: float | None = None  # None: not a ViT, no rollout
    rollout_examples: tuple[Example, ...] = ()  # the probes' example inputs, rollout maps
    supporting: tuple[Metric, ...] = ()  # rollout's enrichment and sanity metrics, not judged


__all__ = [
    "Example",
    "FeatureShare",
    "ImageExample",
    "SpuriousEvidence",
    "TextExample",
    "WordImportance",
]
