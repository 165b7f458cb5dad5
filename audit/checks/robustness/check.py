"""Robustness: how the model's decisions hold up under graded, realistic perturbations.

Per modality, perturbation families at five levels (tabular noise and categorical
redraws, ImageNet-C style image corruptions, CheckList-style token edits, and for raw text
typos, casing, spacing and punctuation, word drops and swaps and synonyms) give accuracy,
flip rate and accuracy ratio to clean, each with n and a Wilson interval; gradient attacks
(captum.robust FGSM, PGD) give robust accuracy, an upper bound, and the median minimum ε
that flips a decision. The check measures only; policies judge.
"""

from __future__ import annotations

from typing import Any

from audit import progress
from audit.checks.base import CheckContext, CheckOutput
from audit.errors import DataError
from audit.records import Metric

from . import image, raw_text, tabular, text
from ._common import PerturbationSample, clean_metric
from .adversarial import UPPER_BOUND_NOTE, measure_adversarial
from .evidence import RobustnessEvidence

__all__ = ["RobustnessCheck"]

TEXT_ADVERSARIAL_NOTE = (
    "Gradient attacks were not run: text inputs are discrete token ids with no gradient. "
    "The token edits above are the robustness evidence for this model."
)
ADVERSARIAL_OFF_NOTE = "adversarial attacks are switched off (checks.robustness.adversarial: false)"
# What one unit of ε (noise scale, attack radius) means, per modality, for the report's axes.
EPSILON_UNITS = {
    "tabular": "standard deviations of each feature",
    "image": "fractions of the data's value range",
    "text": "shares of each sequence's tokens edited",
}
RAW_TEXT_ADVERSARIAL_NOTE = (
    "Gradient attacks were not run: the model reads text through its tokenizer, which has no "
    "gradient. The text edits below are the robustness evidence for this model."
)
NEUTRAL_DEFAULT_NOTE = (
    "Neutral insertions use the data's most frequent token ids; declare "
    "`checks.robustness.neutral_tokens` to choose them."
)
_UNKNOWN_MODALITY = "robustness has no perturbations for modality {0!r}."


class RobustnessCheck:
    """Perturbation families at graded levels, plus FGSM/PGD and the minimum flipping ε."""

    def measure(self, ctx: CheckContext) -> CheckOutput:
        cfg = ctx.config
        sample = PerturbationSample.draw(ctx)
        metrics: list[Metric] = [clean_metric(sample, ctx.confidence)]
        parts: dict[str, Any] = {}
        notes: list[str] = []
        modality = ctx.data.modality
        units = EPSILON_UNITS.get(modality, "")
        no_gradient = TEXT_ADVERSARIAL_NOTE  # why text gets no attack
        with progress.stage("Robustness: perturbation families at graded levels"):
            if modality == "tabular":
                roles = tabular.resolve_roles(ctx.data.feature_names, cfg, ctx.data.x)
                found, ev = tabular.measure_tabular(ctx, sample, roles)
                space = tabular.attack_space(roles)
            elif modality == "image":
                found, ev = image.measure_image(ctx, sample)
                space = image.attack_space(
                    image.data_bounds(ctx.data), ctx.model.as_tensor(sample.x[:1])
                )
            elif modality == "text" and ctx.data.texts is not None and ctx.data.encoder is not None:
                found, ev, text_notes = raw_text.measure_raw_text(ctx, sample)
                space = None
                units, no_gradient = raw_text.UNITS, RAW_TEXT_ADVERSARIAL_NOTE
                notes += [no_gradient, *text_notes]
            elif modality == "text":
                found, ev = text.measure_text(ctx, sample)
                space = None
                notes.append(TEXT_ADVERSARIAL_NOTE)
                if not ev.get("neutral_tokens_declared"):
                    notes.append(NEUTRAL_DEFAULT_NOTE)
            else:
                raise DataError(_UNKNOWN_MODALITY.format(modality), where="model.modality")
        metrics += found
        parts.update(ev)
        not_applicable: dict[str, str] = {}
        if cfg.adversarial and space is not None:
            with progress.stage("Robustness: attacks and the minimum-flip search"):
                found, ev = measure_adversarial(ctx, sample, space)
            metrics += found
            parts.update(ev)
            notes.append(UPPER_BOUND_NOTE)
        else:
            reason = no_gradient if space is None else ADVERSARIAL_OFF_NOTE
            not_applicable["min_flip_epsilon_median"] = reason
            if space is not None:
                notes.append(ADVERSARIAL_OFF_NOTE[0].upper() + ADVERSARIAL_OFF_NOTE[1:] + ".")
        evidence = RobustnessEvidence.from_parts(
            modality=modality,
            n=len(sample.y),
            epsilon_units=units,
            notes=notes,
            parts=parts,
        )
        return CheckOutput(metrics=tuple(metrics), evidence=evidence, not_applicable=not_applicable)
