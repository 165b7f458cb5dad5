"""The `checks.robustness` section of the audit spec."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from audit.strict import Strict

# One value per severity level, severity 1 first (at most five levels).
_Severities = Annotated[list[Annotated[float, Field(gt=0.0)]], Field(min_length=1, max_length=5)]
_Probabilities = Annotated[
    list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=1, max_length=5)
]


class RobustnessSpec(Strict):
    """Perturbation families, their five graded severities and the adversarial search.

    Radii are relative so one spec fits any data: tabular in units of each feature's standard
    deviation, images as a fraction of the data's value range.
    """

    sample: int = Field(2000, ge=10)
    batch_size: int = Field(4096, ge=1)
    # Tabular noise scale ε (σ units), and for text the share of tokens edited, per severity.
    severities: _Severities = [0.01, 0.05, 0.1, 0.25, 0.5]
    immutable: list[str] = []
    integer: list[str] = []
    categorical: list[str] = []
    one_hot: list[Annotated[list[str], Field(min_length=2)]] = []
    # Probability that a categorical (or one-hot group) value is redrawn, per severity.
    categorical_flip_p: _Probabilities = [0.01, 0.05, 0.1, 0.25, 0.5]
    neutral_tokens: list[int] = []  # text: ids to insert; default the most frequent ids
    adversarial: bool = True
    epsilon: float = Field(0.1, gt=0.0)  # L∞ radius of FGSM / PGD
    epsilon_l2: float = Field(0.5, gt=0.0)  # L2 radius of PGD
    pgd_steps: int = Field(10, ge=1, le=1000)
    norm: Literal["Linf", "L2"] = "Linf"  # norm of the minimum-flip search
    min_flip_sample: int = Field(100, ge=1)
    min_flip_max: float = Field(1.0, gt=0.0)
    min_flip_step: float = Field(0.01, gt=0.0)

    @model_validator(mode="after")
    def _graded(self) -> RobustnessSpec:
        for name in ("severities", "categorical_flip_p"):
            values = getattr(self, name)
            if sorted(set(values)) != values:
                raise ValueError(f"`{name}` must be strictly increasing (severity 1 first)")
        if len(self.categorical_flip_p) != len(self.severities):
            raise ValueError("`categorical_flip_p` needs one probability per severity")
        if self.min_flip_step * 2 >= self.min_flip_max:
            raise ValueError("`min_flip_step` must be under half of `min_flip_max`")
        return self
