"""Spurious-feature detection: does the model rely on an artifact it should ignore?

Counterfactual evidence comes first: each declared probe builds controlled copies of the inputs
(the artifact inserted, removed, swapped or permuted) and two nulls (the same artifact
elsewhere, other content in the same place), and the check measures how often predictions
flip for each, paired on the same rows. Attribution (captum) localizes the evidence and is
tested against a null and an explainer sanity check; it never flags on its own. On a Vision
Transformer, attention rollout goes through the same statistics as supporting evidence, shown in
the report and never handed to the policy (`rollout.py`). Without probes the check still
reports global importance (tabular) and a few local explanations.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from audit import progress
from audit.checks.base import CheckContext, CheckOutput
from audit.checks.spurious.attribution import resolve_method
from audit.checks.spurious.context import ProbeSample, global_evidence
from audit.checks.spurious.measure import ProbeResult, measure_probe
from audit.checks.spurious.spec import SpuriousSpec, probe_name
from audit.errors import SpecError
from audit.records import Metric
from audit.stats import holm

__all__ = ["SpuriousCheck"]

_PROBE_METRICS = (
    "flip_rate",
    "flip_rate_excess",
    "mean_abs_delta_p",
    "mcnemar_p",
    "mcnemar_p_holm",
)
_SCORE_METRICS = ("spurious_score", "spurious_score_excess", "flip_to_target_rate")
_MASK_METRICS = (
    "attribution_mass_ratio",
    "area_share",
    "attribution_enrichment",
    "attribution_enrichment_gain",
    "relevance_rank_accuracy",
    "attribution_wilcoxon_p",
    "attribution_permutation_p",
)
_SHARE_METRICS = ("shadow_share_excess", "attribution_share_p", "proxy_auc")
NO_PROBES = (
    "no spurious-feature probes were declared (checks.spurious.probes), so reliance on an "
    "artifact was not tested"
)
TABULAR_ONLY = "measured for tabular feature probes only"
MASKED_ONLY = (
    "measured for image and text probes only; a tabular feature probe is judged by its flip "
    "rate and its attribution share against a shadow feature"
)
_WRONG_MODALITY = "a {kind} probe does not apply to a {modality} model."
_PROBE_MODALITY = {"feature": "tabular", "patch": "image", "token": "text", "phrase": "text"}


class SpuriousCheck:
    """Measures reliance on declared artifacts; see the module docstring.

    Attributions and probe predictions go through `ctx.map_rows`, so an orchestrator can
    spread them over workers with identical results.
    """

    def measure(self, ctx: CheckContext) -> CheckOutput:
        cfg: SpuriousSpec = ctx.config
        for probe in cfg.probes:
            if _PROBE_MODALITY[probe.type] != ctx.data.modality:
                raise SpecError(
                    _WRONG_MODALITY.format(kind=probe.type, modality=ctx.data.modality),
                    where=f"checks.spurious.probes ({probe_name(probe)})",
                    fix=f"use a {_kinds_for(ctx.data.modality)} probe for this model.",
                )
        method = resolve_method(
            cfg.method, cfg.fallback_method, ctx.model.module, ctx.data.modality
        )
        sample = ProbeSample.draw(ctx, cfg, method)
        metrics: list[Metric] = [
            Metric(check="spurious", name="probes_declared", value=float(len(cfg.probes)))
        ]
        with progress.stage("Spurious: attributions and the sanity check"):
            gmetrics, evidence = global_evidence(sample, cfg)
        metrics.extend(gmetrics)
        results: list[ProbeResult] = []
        with progress.stage("Spurious: probes and their nulls", total=len(cfg.probes)) as shown:
            for p in cfg.probes:
                results.append(measure_probe(sample, cfg, p))
                shown.advance()
        sentences = [res.sentence for res in results]
        for res in results:
            metrics.extend(res.metrics)
        metrics.extend(_holm_adjusted(metrics))
        if not cfg.probes:
            sentences.append(
                "No spurious-feature probes were declared, so no reliance was tested; the "
                "importance chart and local explanations are context only."
            )
        evidence = replace(
            evidence,
            examples=tuple(e for res in results for e in res.examples),
            sentences=tuple(sentences),
            rollout_examples=tuple(e for res in results for e in res.rollout_examples),
            supporting=evidence.supporting + tuple(m for res in results for m in res.supporting),
        )
        return CheckOutput(
            metrics=tuple(metrics),
            evidence=evidence,
            not_applicable=_not_applicable(bool(cfg.probes), ctx.data.modality),
        )


def _not_applicable(probed: bool, modality: str) -> dict[str, str]:
    """Why a probe metric is absent, for the policy to skip (not error on) rules that need it.

    The policy consults this only for rules that matched no metric, so a metric that was
    expected but failed to appear is still an error.
    """
    if not probed:
        names = _PROBE_METRICS + _SCORE_METRICS + _MASK_METRICS + _SHARE_METRICS
        return dict.fromkeys(names, NO_PROBES)
    if modality == "tabular":
        return dict.fromkeys(_SCORE_METRICS + _MASK_METRICS, MASKED_ONLY)
    return dict.fromkeys(_SHARE_METRICS, TABULAR_ONLY)


def _kinds_for(modality: str) -> str:
    return " or ".join(f"`{k}`" for k, v in _PROBE_MODALITY.items() if v == modality)


def _holm_adjusted(metrics: list[Metric]) -> list[Metric]:
    """Holm-adjusted McNemar p-values across every probe and null of this audit."""
    raw = [m for m in metrics if m.name == "mcnemar_p"]
    if not raw:
        return []
    adjusted = holm(np.array([m.value for m in raw]))
    return [
        Metric(
            check=m.check,
            name="mcnemar_p_holm",
            value=float(a),
            probe=m.probe,
            perturbation=m.perturbation,
            n=m.n,
        )
        for m, a in zip(raw, adjusted, strict=True)
    ]
