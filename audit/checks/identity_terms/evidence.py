"""What the identity-term check hands its report section beyond the metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SwapExample:
    """One counterfactual swap, as words: the text before and after and the scores."""

    category: str
    source: str
    target: str
    before: str
    after: str
    score_before: float  # probability of the positive class (binary) or of the original decision
    score_after: float
    change: float  # total-variation distance of the class probabilities (binary: |Δp|)


@dataclass(frozen=True)
class IdentityTermsEvidence:
    """Why the check did not apply (empty when it did), the lexicon's origin, the terms too
    small to judge, categories no row mentions, and the most-changed swaps per category."""

    reason: str = ""
    lexicon: str = ""  # "bundled" or "spec"
    templates: str = ""  # "bundled", a path, or "" when switched off
    min_group_size: int = 0
    too_small: tuple[tuple[str, str, int], ...] = ()  # (category, term, smallest count)
    unmentioned: tuple[str, ...] = ()
    examples: tuple[SwapExample, ...] = ()


__all__ = ["IdentityTermsEvidence", "SwapExample"]
