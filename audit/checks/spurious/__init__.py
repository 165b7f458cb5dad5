"""Spurious features: does the model rely on an artifact it should ignore?

The plugin declares the check; the work is in `check.py`, imported only when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from audit.checks.spurious.evidence import SpuriousEvidence
from audit.checks.spurious.spec import (
    FeatureProbe,
    PatchProbe,
    PhraseProbe,
    SpuriousSpec,
    TokenProbe,
)
from audit.errors import SpecError
from audit.plugin import Better, CheckPlugin, DataHeader, MetricInfo, PathResolver

if TYPE_CHECKING:
    from audit.checks.base import CheckContext, CheckOutput
    from audit.loaders.data import Dataset
    from audit.presentation.view import CheckSection, SectionInput
    from audit.spec import AuditSpec

# A probe's variant (insert, remove, swap, permute, or a null) is its metric's `perturbation`;
# the attribution method is its `method`; a tabular probe names its `feature`.
_PROBE_FEATURE = "feature probe {name!r} names {what}."
_PROBE_FEATURE_FIX = "probe one of `data.features`: {features}"
_EXPORT_KIND = "torch.export GraphModule"
_PHRASE_NEEDS_TEXT = "a phrase probe edits raw text, but the data is token ids (no `data.text`)."
_TOKEN_NEEDS_IDS = (
    "a token probe inserts token ids, but the data is raw text (`data.text`): ids inserted "
    "into an encoding could land beside [CLS] or [SEP] and split words."
)
_PROBE = ("probe", "perturbation", "method", "feature")


def _m(name: str, unit: str, better: Better, meaning: str) -> MetricInfo:
    return MetricInfo(name, _PROBE, unit, better, meaning)


class SpuriousPlugin(CheckPlugin):
    """Counterfactual probes with two nulls, backed by captum attributions."""

    name = "spurious"
    title = "Spurious features"
    spec_model = SpuriousSpec
    catalogue = (
        _m("flip_rate", "rate", "lower", "share of predictions that change under the edit"),
        _m(
            "flip_rate_excess",
            "difference",
            "lower",
            "artifact's flip rate minus the smaller applicable null's",
        ),
        _m("mean_abs_delta_p", "probability", "lower", "mean absolute change in probability"),
        _m("mcnemar_p", "p-value", "neither", "exact McNemar test, artifact against its null"),
        _m("mcnemar_p_holm", "p-value", "neither", "McNemar p-value, Holm-adjusted over probes"),
        _m(
            "spurious_score",
            "probability",
            "lower",
            "mean probability of the pushed class on rows not already predicted as it",
        ),
        _m(
            "spurious_score_excess",
            "difference",
            "lower",
            "artifact's spurious score minus its null's",
        ),
        _m(
            "flip_to_target_rate",
            "rate",
            "lower",
            "share of rows that flip to the class the artifact pushes towards",
        ),
        _m(
            "attribution_mass_ratio",
            "rate",
            "neither",
            "share of attribution that falls on the artifact",
        ),
        _m("area_share", "rate", "neither", "share of the input the artifact covers"),
        _m(
            "attribution_enrichment",
            "ratio",
            "lower",
            "attribution share over area share (1 = uninformative)",
        ),
        _m(
            "attribution_enrichment_gain",
            "ratio",
            "lower",
            "enrichment with the artifact over enrichment at the same place without it",
        ),
        _m(
            "relevance_rank_accuracy",
            "rate",
            "lower",
            "share of the top attributions that fall inside the artifact",
        ),
        _m(
            "attribution_wilcoxon_p",
            "p-value",
            "neither",
            "one-sided Wilcoxon test of attribution share above area share",
        ),
        _m(
            "attribution_permutation_p",
            "p-value",
            "neither",
            "permutation test moving the mask to random places",
        ),
        _m(
            "sanity_rank_correlation",
            "correlation",
            "lower",
            "rank correlation of attributions before and after randomizing top layers",
        ),
        _m(
            "shadow_share_excess",
            "difference",
            "lower",
            "feature's attribution share minus a shuffled shadow copy's",
        ),
        _m("attribution_share_p", "p-value", "neither", "test of share above the shadow's"),
        _m("proxy_auc", "auc", "neither", "how well the other features predict the probed one"),
        _m("attribution_share", "rate", "neither", "the feature's share of mean |attribution|"),
        _m("probes_declared", "count", "neither", "number of probes the spec declared"),
        _m("convergence_delta", "score", "lower", "integrated-gradients completeness error"),
    )
    headline = ("flip_rate_excess", "spurious_score_excess")
    methodology = (
        "Each declared probe inserts, removes or swaps an artifact on controlled copies of the "
        "inputs. The evidence is counterfactual first: how often predictions flip, compared "
        "against two nulls (the same artifact elsewhere, other content in the same place), with "
        "Wilson intervals and exact McNemar tests. Attributions (captum) then show where the "
        "model looked: the share of attribution on the artifact divided by its area share "
        "(enrichment), with a bootstrap CI; explainers are sanity-checked by randomizing the "
        "model's top layers."
    )
    limits = (
        "Attribution maps are evidence of location, not of causation. Only declared artifacts "
        "are tested: a clean result does not rule out shortcuts nobody probed. Zero attribution "
        "on a feature does not rule out reliance through a proxy."
    )

    evidence_type = SpuriousEvidence

    def contract_config(self, modality: str) -> BaseModel:
        """Two probes per modality (so probe order is tested), on small samples."""
        probes = {
            "tabular": [{"type": "feature", "feature": "d"}, {"type": "feature", "feature": "c"}],
            "image": [
                {"type": "patch", "region": [0, 0, 2, 2], "value": 1.0},
                {"type": "patch", "region": [6, 6, 2, 2], "value": 1.0},
            ],
            # the contract's text rows carry raw text (word `wi` is id i): phrases, not ids
            "text": [{"type": "phrase", "text": "w3"}, {"type": "phrase", "text": "w20 w21"}],
        }[modality]
        return SpuriousSpec.model_validate(
            {
                "probes": probes,
                "sample": 60,
                "n_boot": 50,
                "location_nulls": 2,
                "n_steps": 4,
                "examples": 1,
                "embedding_layer": "embed" if modality == "text" else None,
            }
        )

    def measure(self, ctx: CheckContext) -> CheckOutput:
        from audit.checks.spurious.check import SpuriousCheck

        return SpuriousCheck().measure(ctx)

    def resolve_paths(self, config: BaseModel, resolve: PathResolver) -> BaseModel:
        """A patch probe's `pattern` file and the text `vocab` file live beside the spec."""
        assert isinstance(config, SpuriousSpec)
        probes = [
            p.model_copy(update={"pattern": resolve(p.pattern, "probes.pattern")})
            if isinstance(p, PatchProbe) and p.pattern is not None
            else p
            for p in config.probes
        ]
        vocab = None if config.vocab is None else resolve(config.vocab, "vocab")
        return config.model_copy(update={"probes": probes, "vocab": vocab})

    def preflight_spec(self, config: BaseModel, spec: AuditSpec, header: DataHeader) -> None:
        """Probe features name model inputs, patch regions fit the images, phrase probes come
        with raw text and token probes with ids, and the attribution
        method fits the model format (hook-based methods need a live `factory` module; a text
        factory model's token embedding is found by building it once)."""
        assert isinstance(config, SpuriousSpec)
        features = spec.data.features or []
        for i, probe in enumerate(config.probes):
            if isinstance(probe, FeatureProbe) and probe.feature not in features:
                in_data = header.columns is not None and probe.feature in header.columns
                what = "a column the model does not take" if in_data else "no column of the data"
                raise SpecError(
                    _PROBE_FEATURE.format(name=probe.feature, what=what),
                    where=f"checks.spurious.probes[{i}].feature",
                    fix=_PROBE_FEATURE_FIX.format(features=", ".join(features[:12])),
                )
        raw = spec.data.text is not None
        for i, probe in enumerate(config.probes):
            if isinstance(probe, PhraseProbe) and not raw:
                raise SpecError(
                    _PHRASE_NEEDS_TEXT,
                    where=f"checks.spurious.probes[{i}]",
                    fix="give the texts (`data.text`), or probe ids with `type: token`.",
                )
            if isinstance(probe, TokenProbe) and raw:
                raise SpecError(
                    _TOKEN_NEEDS_IDS,
                    where=f"checks.spurious.probes[{i}]",
                    fix="probe the words: `{type: phrase, text: ...}`.",
                )
        shape = header.x_shape
        if spec.model.modality == "image" and shape is not None and len(shape) == 4:
            for i, probe in enumerate(config.probes):
                if isinstance(probe, PatchProbe):
                    probe.check_fits(shape[2], shape[3], f"checks.spurious.probes[{i}].region")
        from audit.checks.spurious.attribution import resolve_method_for

        model = spec.model
        route = model.source_format()
        kind = None  # a factory or a Hugging Face folder builds a live module
        if route in ("export", "torchscript"):
            kind = _EXPORT_KIND if route == "export" else "TorchScript"
        method = resolve_method_for(config.method, config.fallback_method, kind, model.modality)
        # a Hugging Face model names its own input embedding (get_input_embeddings)
        if method == "layer_integrated_gradients" and route == "factory":
            from audit.checks.spurious.attribution import token_embedding
            from audit.loaders.model import load_module

            token_embedding(load_module(spec.model), config.embedding_layer)

    def preflight(self, config: BaseModel, data: Dataset) -> None:
        """An image probe region must fit the data's images."""
        assert isinstance(config, SpuriousSpec)
        if data.modality != "image":
            return
        height, width = data.x.shape[-2:]
        for i, probe in enumerate(config.probes):
            if isinstance(probe, PatchProbe):
                probe.check_fits(height, width, f"checks.spurious.probes[{i}].region")

    def section(self, inputs: SectionInput) -> CheckSection:
        from audit.checks.spurious.section import section

        return section(self, inputs)


__all__ = ["SpuriousPlugin", "SpuriousSpec"]
