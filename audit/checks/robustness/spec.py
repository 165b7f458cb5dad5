"""The `checks.robustness` section of the audit spec."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, model_validator

from audit.strict import Strict, one_name

# One value per perturbation level, level 1 first (at most five levels).
_Levels = Annotated[list[Annotated[float, Field(gt=0.0)]], Field(min_length=1, max_length=5)]
_Probabilities = Annotated[
    list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=1, max_length=5)
]


class RobustnessSpec(Strict):
    """Perturbation families, their five graded levels and the adversarial search.

    Radii are relative so one spec fits any data: tabular in units of each feature's standard
    deviation, images as a fraction of the data's value range.
    """

    sample: int = Field(2000, ge=10, description="Rows drawn (seeded) for the perturbations.")
    batch_size: int = Field(4096, ge=1, description="Rows per prediction batch.")
    levels: _Levels = Field(
        [0.01, 0.05, 0.1, 0.25, 0.5],
        # `severities`: the name before findings.json version 2; deprecated, still accepted
        validation_alias=AliasChoices("levels", "severities"),
        description="Per level, strictly increasing: tabular noise scale ε (in standard "
        "deviations of each feature); text: the share of each sequence's tokens (`.npz` token "
        "ids) or of each text's words (raw text) edited. Images use five fixed "
        "corruption levels. Deprecated alias: `severities` (the old name), still accepted.",
    )
    immutable: list[str] = Field([], description="Tabular columns never perturbed.")
    integer: list[str] = Field(
        [], description="Tabular columns rounded to whole numbers after noise."
    )
    categorical: list[str] = Field(
        [], description="Tabular columns redrawn from their observed values, not noised."
    )
    one_hot: list[Annotated[list[str], Field(min_length=2)]] = Field(
        [], description="Groups of one-hot columns, each redrawn as a whole."
    )
    categorical_flip_p: _Probabilities = Field(
        [0.01, 0.05, 0.1, 0.25, 0.5],
        description="Per level: probability that a categorical value (or one-hot group) is "
        "redrawn; one per level.",
    )
    neutral_tokens: list[int] = Field(
        [],
        description="`.npz` token ids: ids to insert; unset means the 10 most frequent ids "
        "(raw text is edited as strings and ignores this).",
    )
    adversarial: bool = Field(
        True, description="Run FGSM/PGD and the minimum flipping ε (not on token ids)."
    )
    epsilon: float = Field(0.1, gt=0.0, description="L∞ radius of FGSM and PGD.")
    epsilon_l2: float = Field(0.5, gt=0.0, description="L2 radius of PGD.")
    pgd_steps: int = Field(10, ge=1, le=1000, description="PGD iterations.")
    norm: Literal["Linf", "L2"] = Field(
        "Linf", description="Norm of the minimum-flip search (Linf: FGSM; L2: PGD)."
    )
    min_flip_sample: int = Field(
        100, ge=1, description="Rows searched, one at a time, for their minimum flipping ε."
    )
    min_flip_max: float = Field(
        1.0, gt=0.0, description="Largest ε the search tries; a row not flipped by it counts as it."
    )
    min_flip_step: float = Field(0.01, gt=0.0, description="Step of the ε search.")

    @model_validator(mode="before")
    @classmethod
    def _levels_once(cls, data: Any) -> Any:
        return one_name(data, "levels", "severities")

    @model_validator(mode="after")
    def _graded(self) -> RobustnessSpec:
        for name in ("levels", "categorical_flip_p"):
            values = getattr(self, name)
            if sorted(set(values)) != values:
                raise ValueError(f"`{name}` must be strictly increasing (level 1 first)")
        if len(self.categorical_flip_p) != len(self.levels):
            raise ValueError("`categorical_flip_p` needs one probability per level")
        if self.min_flip_step * 2 >= self.min_flip_max:
            raise ValueError("`min_flip_step` must be under half of `min_flip_max`")
        return self
