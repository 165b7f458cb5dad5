"""The `checks.circuits` section of the audit spec."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audit.checks.spurious.spec import PhraseProbe
from audit.strict import Strict


class CircuitsSpec(Strict):
    """Options of the attention-head check (docs/methods.md, Attention-head circuits).

    `probes` unset means the phrase probes declared for the spurious check
    (`checks.spurious.probes` of type `phrase`); given, it replaces them.
    """

    probes: list[PhraseProbe] | None = Field(
        None,
        description="Phrases whose carrying heads are searched; unset: the spurious check's "
        "phrase probes.",
    )
    ablation: Literal["mean", "zero"] = Field(
        "mean",
        description="A head is replaced by its mean output over the clean texts at each "
        "position (`mean`), or by zero (`zero`).",
    )
    share: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="Share of the artifact's effect the circuit's joint ablation must remove.",
    )
    max_heads: int = Field(8, ge=1, le=64, description="Most heads in a circuit.")
    min_effect: float = Field(
        0.05,
        gt=0.0,
        lt=1.0,
        description="Smallest mean probability change of the artifact worth explaining; "
        "below it the probe's head ablation and circuit metrics are not measured.",
    )
    random_draws: int = Field(
        50, ge=1, le=10_000, description="Random head sets (same size as the circuit) of the null."
    )
    sample: int = Field(256, ge=10, description="Texts drawn (seeded) for the probes.")
    n_boot: int = Field(500, ge=0, le=100_000, description="Bootstrap resamples of the CIs.")
    batch_size: int = Field(64, ge=1, description="Texts per forward pass.")
    confidence: float | None = Field(
        None, gt=0.5, lt=1.0, description="Interval level; unset means the policy's `confidence`."
    )


__all__ = ["CircuitsSpec"]
