"""Attention-head circuits: which heads of a text encoder carry a declared phrase's effect,
shown by ablation and activation patching with a random-head null.

The plugin declares the check; the work is in `check.py`, imported only when it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from audit.checks.circuits.evidence import CircuitsEvidence
from audit.checks.circuits.spec import CircuitsSpec
from audit.plugin import CheckPlugin, MetricInfo
from audit.records import Finding, Metric

if TYPE_CHECKING:
    from audit.checks.base import CheckContext, CheckOutput
    from audit.presentation.view import CheckSection, SectionInput
    from audit.spec import AuditSpec

_HEAD = ("probe", "layer", "head")


class CircuitsPlugin(CheckPlugin):
    """Which attention heads carry a shortcut phrase, by causal ablation and patching."""

    name = "circuits"
    title = "Attention-head circuits"
    spec_model = CircuitsSpec
    modalities = frozenset({"text"})
    catalogue = (
        MetricInfo(
            "artifact_effect",
            ("probe",),
            "probability",
            "lower",
            "mean change in P(target class) when the phrase is inserted (inserted minus clean)",
        ),
        MetricInfo(
            "head_ablation_effect",
            _HEAD,
            "share",
            "neither",
            "share of the phrase's effect removed when this head alone is ablated",
        ),
        MetricInfo(
            "head_attention_share",
            (*_HEAD, "method"),
            "ratio",
            "neither",
            "attention onto the phrase over its length share, from the first token or everywhere",
        ),
        MetricInfo(
            "head_task_importance",
            ("layer", "head"),
            "nats",
            "neither",
            "mean increase of the true label's cross-entropy when this head is ablated",
        ),
        MetricInfo("circuit_size", ("probe",), "count", "neither", "heads in the circuit found"),
        MetricInfo(
            "circuit_ablation_effect",
            ("probe",),
            "share",
            "neither",
            "share of the phrase's effect removed by ablating the circuit (held-out rows)",
        ),
        MetricInfo(
            "circuit_random_null",
            ("probe",),
            "share",
            "neither",
            "share removed by ablating as many random other heads (mean over draws)",
        ),
        MetricInfo(
            "circuit_null_excess",
            ("probe",),
            "share",
            "lower",
            "circuit ablation effect minus the random-head null: how much the circuit is special",
        ),
        MetricInfo(
            "circuit_patching_recovery",
            ("probe",),
            "share",
            "neither",
            "share of the effect restored by patching the circuit's outputs into the clean run",
        ),
        MetricInfo(
            "circuit_accuracy_drop",
            ("probe",),
            "difference",
            "neither",
            "accuracy on the sampled data minus accuracy with the circuit ablated",
        ),
        MetricInfo(
            "circuit_head",
            _HEAD,
            "share",
            "neither",
            "a member of the circuit (value: its single-head ablation effect)",
        ),
    )
    headline = ("circuit_null_excess",)
    methodology = (
        "Each phrase probe (the spurious check's, or the check's own) is inserted at a random "
        "word boundary of sampled texts that lack it; the artifact's effect is the mean change "
        "in the probability of the class it pushes towards. Attention heads are reached with "
        "forward pre-hooks on each attention block's output projection, whose input holds the "
        "heads' outputs side by side. Every head is ablated alone (replaced by its mean output "
        "over the clean texts at each position, or by zero), clean and inserted texts together "
        "in one batched pass per head; its ablation effect is the share of the artifact's "
        "effect removed. The rows are split in two: on one half, heads are added in order of "
        "their single-head effect until their joint ablation removes the configured share; on "
        "the other half the circuit is confirmed by necessity (share removed, bootstrap "
        "interval at {confidence_pct}), a null of as many random other heads over many draws, "
        "sufficiency by patching the circuit's outputs from the inserted run into the clean "
        "run, and the accuracy its ablation costs. Attention from the first (classification) "
        "token onto the phrase over "
        "its length share is shown as description only. For the reviewer's overview, each head's "
        "importance for the task is the mean increase of the true label's cross-entropy when "
        "it is ablated on the sampled data (Michel et al. 2019)."
    )
    limits = (
        "Ablation measures what the model does without a head's usual contribution, not what "
        "the head computes; mean ablation keeps the head's average signal, zero ablation moves "
        "activations off their usual range. Heads that back each other up can each look "
        "unimportant alone, and the greedy search ranks by single-head effects, so it can miss "
        "a redundant pair and need more heads than the smallest circuit. Only phrase probes "
        "of Hugging Face BERT-family and DistilBERT encoders are covered; attention weights "
        "are never an explanation on their own."
    )
    evidence_type = CircuitsEvidence

    def configure(self, config: BaseModel, spec: AuditSpec) -> BaseModel:
        """Unset `probes` reads the spurious check's phrase probes."""
        from audit.checks.spurious.spec import PhraseProbe

        assert isinstance(config, CircuitsSpec)
        if config.probes is not None:
            return config
        spurious = getattr(spec.checks, "spurious", None)
        probes = [p for p in getattr(spurious, "probes", None) or [] if isinstance(p, PhraseProbe)]
        return config.model_copy(update={"probes": probes})

    def contract_config(self, modality: str) -> BaseModel:
        return CircuitsSpec(sample=40, n_boot=50, random_draws=5)

    def measure(self, ctx: CheckContext) -> CheckOutput:
        from audit.checks.circuits.check import CircuitsCheck

        return CircuitsCheck().measure(ctx)

    def section(self, inputs: SectionInput) -> CheckSection:
        from audit.checks.circuits.section import section

        return section(self, inputs)

    def plain_sentence(
        self, finding: Finding, metrics: Sequence[Metric], confidence_pct: str
    ) -> str | None:
        from audit.checks.circuits.section import plain_sentence

        return plain_sentence(finding, metrics, confidence_pct)


__all__ = ["CircuitsPlugin", "CircuitsSpec"]
