"""Identity terms: counterfactual swaps, templates and subgroup AUCs of a text classifier.

The plugin declares the check; the work is in `check.py`, imported only when it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from audit.checks.identity_terms.evidence import IdentityTermsEvidence
from audit.checks.identity_terms.spec import IdentityTermsSpec
from audit.plugin import Better, CheckPlugin, MetricInfo, PathResolver
from audit.records import Finding, Metric

if TYPE_CHECKING:
    from audit.checks.base import CheckContext, CheckOutput
    from audit.loaders.data import Dataset
    from audit.presentation.view import CheckSection, SectionInput

_TERM = ("feature", "group")  # feature: the category (religion ...), group: the term


def _m(name: str, subject: tuple[str, ...], unit: str, better: Better, meaning: str) -> MetricInfo:
    return MetricInfo(name, subject, unit, better, meaning)


class IdentityTermsPlugin(CheckPlugin):
    """Does naming an identity change a text classifier's output? (Dixon 2018, Borkan 2019)"""

    name = "identity_terms"
    title = "Identity terms"
    spec_model = IdentityTermsSpec
    modalities = frozenset({"text"})
    catalogue = (
        _m(
            "ctf_gap",
            ("feature",),
            "probability",
            "lower",
            "mean change of the class probabilities when a category's term is swapped",
        ),
        _m(
            "swap_flip_rate",
            ("feature",),
            "rate",
            "lower",
            "share of identity-term swaps that change the decision",
        ),
        _m(
            "ctf_gap_term",
            _TERM,
            "probability",
            "lower",
            "mean probability change when this term is swapped for the others",
        ),
        _m(
            "ctf_gap_pair",
            (*_TERM, "perturbation"),
            "probability",
            "lower",
            "mean probability change when this term is swapped for one other",
        ),
        _m(
            "template_mean_score",
            _TERM,
            "probability",
            "neither",
            "mean positive-class probability over the templates filled with the term",
        ),
        _m(
            "template_positive_rate",
            _TERM,
            "rate",
            "neither",
            "share of the term's templates predicted positive",
        ),
        _m(
            "template_score_gap",
            ("feature",),
            "probability",
            "lower",
            "highest minus lowest template mean score across the category's terms",
        ),
        _m(
            "template_fped",
            ("feature",),
            "difference",
            "lower",
            "false-positive equality difference on the neutral templates (Dixon et al.)",
        ),
        _m(
            "template_fned",
            ("feature",),
            "difference",
            "lower",
            "false-negative equality difference on the toxic templates (Dixon et al.)",
        ),
        _m(
            "mentions",
            _TERM,
            "count",
            "neither",
            "rows mentioning the term (n: the smallest positive/negative count its AUCs use)",
        ),
        _m("overall_auc", (), "auc", "higher", "ROC AUC on all rows"),
        _m("subgroup_auc", _TERM, "auc", "higher", "ROC AUC on the rows mentioning the term"),
        _m(
            "bpsn_auc",
            _TERM,
            "auc",
            "higher",
            "AUC of background positives against the term's negatives (low: false positives)",
        ),
        _m(
            "bnsp_auc",
            _TERM,
            "auc",
            "higher",
            "AUC of background negatives against the term's positives (low: false negatives)",
        ),
        _m("subgroup_auc_gap", _TERM, "difference", "lower", "overall AUC minus subgroup AUC"),
        _m("bpsn_auc_gap", _TERM, "difference", "lower", "overall AUC minus BPSN AUC"),
        _m("bnsp_auc_gap", _TERM, "difference", "lower", "overall AUC minus BNSP AUC"),
        _m(
            "max_subgroup_auc_gap",
            ("feature",),
            "difference",
            "lower",
            "largest subgroup AUC gap over the category's terms",
        ),
        _m(
            "max_bpsn_auc_gap",
            ("feature",),
            "difference",
            "lower",
            "largest BPSN AUC gap over the category's terms",
        ),
        _m(
            "max_bnsp_auc_gap",
            ("feature",),
            "difference",
            "lower",
            "largest BNSP AUC gap over the category's terms",
        ),
    )
    headline = ("ctf_gap", "max_bpsn_auc_gap", "max_bnsp_auc_gap")
    methodology = (
        "Identity terms per category (the bundled lexicon or the spec's) are matched as whole "
        "words in the raw texts. Counterfactual swaps: each text mentioning exactly one term of a "
        "category is rescored with that term swapped for every other term of the category (case "
        "kept); the counterfactual token fairness gap is the mean change of the class "
        "probabilities and the flip rate the share of changed decisions, with bootstrap "
        "intervals over texts (Garg et al. 2019). Templates with known labels, filled with each "
        "term, give per-term mean scores and positive rates and the false-positive and "
        "false-negative equality differences (Dixon et al. 2018). On the labelled data, the "
        "subgroup, BPSN and BNSP AUCs of each term and their gaps to the overall AUC carry "
        "row-bootstrap intervals at {confidence_pct} (Borkan et al. 2019)."
    )
    limits = (
        "A term with fewer than {min_group_size} positives or negatives (in or outside the rows "
        "that mention it) is not measured, and the aggregates of its category are then reported "
        "as insufficient data, never as passing. Matching is lexical: words with other senses "
        "(white, black, straight, old) count as mentions, and identities named otherwise "
        "(unlisted plurals, slurs, spelling variants, other languages) are missed. Swaps can "
        "make unnatural sentences, and a swap past the model's maximum length changes nothing "
        "it reads; a lexicon and templates cover only the identities and phrasings they list."
    )
    evidence_type = IdentityTermsEvidence

    def contract_config(self, modality: str) -> BaseModel:
        return IdentityTermsSpec(
            terms={"first": ["w2", "w3", "w4"], "second": ["w20", "w21"]},
            sample=60,
            n_boot=50,
            batch_size=64,
        )

    def resolve_paths(self, config: BaseModel, resolve: PathResolver) -> BaseModel:
        """A template file lives beside the spec."""
        assert isinstance(config, IdentityTermsSpec)
        if isinstance(config.templates, bool):
            return config
        return config.model_copy(update={"templates": resolve(config.templates, "templates")})

    def preflight(self, config: BaseModel, data: Dataset) -> None:
        """A template file is read, and refused naming its line, before any model work."""
        from audit.checks.identity_terms.lexicon import read_templates

        assert isinstance(config, IdentityTermsSpec)
        if isinstance(config.templates, Path):
            read_templates(config.templates)

    def measure(self, ctx: CheckContext) -> CheckOutput:
        from audit.checks.identity_terms.check import IdentityTermsCheck

        return IdentityTermsCheck().measure(ctx)

    def section(self, inputs: SectionInput) -> CheckSection:
        from audit.checks.identity_terms.section import section

        return section(self, inputs)

    def plain_sentence(
        self, finding: Finding, metrics: Sequence[Metric], confidence_pct: str
    ) -> str | None:
        """Swap gaps and AUC gaps in words, naming the category and the worst term."""
        from audit.checks.identity_terms.section import plain_sentence

        return plain_sentence(finding, metrics, confidence_pct)


__all__ = ["IdentityTermsPlugin", "IdentityTermsSpec"]
