"""Robustness: how decisions hold up under graded perturbations and gradient attacks.

The plugin declares the check; the work is in `check.py`, imported only when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from audit.checks.robustness.evidence import RobustnessEvidence
from audit.checks.robustness.spec import RobustnessSpec
from audit.plugin import Better, CheckPlugin, MetricInfo

if TYPE_CHECKING:
    from audit.checks.base import CheckContext, CheckOutput
    from audit.presentation.view import CheckSection, SectionInput

# A perturbation family (or attack) at a graded level, and the attack norm as `method`.
_GRADED = ("perturbation", "level", "method")


def _m(name: str, unit: str, better: Better, meaning: str) -> MetricInfo:
    return MetricInfo(name, _GRADED, unit, better, meaning)


class RobustnessPlugin(CheckPlugin):
    """Perturbation families at graded levels, plus FGSM/PGD and the minimum flipping ε."""

    name = "robustness"
    title = "Robustness"
    spec_model = RobustnessSpec
    catalogue = (
        _m("accuracy", "rate", "higher", "accuracy on the perturbed inputs"),
        _m("flip_rate", "rate", "lower", "share of decisions the perturbation changes"),
        _m("accuracy_ratio", "ratio", "higher", "perturbed accuracy over clean accuracy"),
        _m("clean_accuracy", "rate", "higher", "accuracy on the unperturbed sample"),
        _m("robust_accuracy", "rate", "higher", "accuracy under the attack (an upper bound)"),
        _m(
            "min_flip_epsilon_median",
            "epsilon",
            "higher",
            "median smallest attack radius that flips a decision",
        ),
        _m("corruption_error", "rate", "lower", "error under the corruption family"),
        _m(
            "relative_corruption_error",
            "difference",
            "lower",
            "corruption error minus clean error",
        ),
        _m("mean_corruption_error", "rate", "lower", "corruption error averaged over families"),
        _m(
            "relative_mean_corruption_error",
            "difference",
            "lower",
            "mean corruption error minus clean error",
        ),
        _m(
            "invariance_failure_rate",
            "rate",
            "lower",
            "share of rows whose class probability moves more than 0.1 under a neutral edit",
        ),
    )
    headline = ("clean_accuracy", "robust_accuracy", "min_flip_epsilon_median")
    methodology = (
        "Inputs are perturbed at graded levels (noise scaled to each feature's spread for "
        "tables; ImageNet-C style corruptions for images; token drops, swaps and insertions for "
        "token ids; typos, casing, spacing and punctuation, word drops and swaps and synonyms "
        "for raw text, re-tokenized by the model's tokenizer), and accuracy, flip rate and "
        "accuracy relative to clean inputs are measured with Wilson intervals. Adversarial "
        "attacks (FGSM, PGD) use captum at declared radii; the minimum flipping ε is searched "
        "per example."
    )
    limits = (
        "Robust accuracy under FGSM/PGD is an upper bound: a stronger attack could do worse. "
        "Synthetic corruptions approximate, but do not reproduce, the shifts a deployed model "
        "will meet."
    )

    evidence_type = RobustnessEvidence

    def contract_config(self, modality: str) -> BaseModel:
        return RobustnessSpec(sample=60, min_flip_sample=4, pgd_steps=3)

    def measure(self, ctx: CheckContext) -> CheckOutput:
        from audit.checks.robustness.check import RobustnessCheck

        return RobustnessCheck().measure(ctx)

    def section(self, inputs: SectionInput) -> CheckSection:
        from audit.checks.robustness.section import section

        return section(self, inputs)


__all__ = ["RobustnessPlugin", "RobustnessSpec"]
