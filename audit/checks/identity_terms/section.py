"""The identity-term check's report section and its plain-language sentences."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from audit.checks.identity_terms.evidence import IdentityTermsEvidence
from audit.presentation.format import clip, fmt
from audit.presentation.plain import measured, requirement
from audit.presentation.view import Cell, CheckSection, SectionInput, table, value_ci
from audit.records import Finding, Metric, Status

if TYPE_CHECKING:
    from audit.plugin import CheckPlugin

_TERM_COLUMNS = ("subgroup_auc", "bpsn_auc", "bnsp_auc", "ctf_gap_term", "template_mean_score")
_WORDS = {
    "ctf_gap": "swapping one term for another changes the model's probabilities by",
    "swap_flip_rate": "swapping one term for another changes the decision in",
    "template_score_gap": "the mean template score differs between terms by",
}
_AUC_GAP = {
    "max_bpsn_auc_gap": (
        "bpsn_auc",
        "the model separates toxic texts that do not mention {term} from non-toxic texts that "
        "do (BPSN AUC {auc}) worse than it separates all texts (AUC {overall}): texts naming "
        "{term} are pushed towards the positive class",
    ),
    "max_bnsp_auc_gap": (
        "bnsp_auc",
        "the model separates toxic texts that mention {term} from non-toxic texts that do not "
        "(BNSP AUC {auc}) worse than all texts (AUC {overall}): texts naming {term} are pushed "
        "towards the negative class",
    ),
    "max_subgroup_auc_gap": (
        "subgroup_auc",
        "within the texts that mention {term}, the model ranks toxic above non-toxic worse "
        "(subgroup AUC {auc}) than on all texts (AUC {overall})",
    ),
}
_UNITS = {"ctf_gap": "probability", "swap_flip_rate": "rate", "template_score_gap": "probability"}
_NOT_JUDGED = frozenset({Status.ERROR, Status.INSUFFICIENT_DATA, Status.SKIPPED})


def _by(metrics: Sequence[Metric], name: str) -> dict[tuple[str | None, str | None], Metric]:
    return {(m.feature, m.group): m for m in metrics if m.name == name}


def section(plugin: CheckPlugin, inputs: SectionInput) -> CheckSection:
    """Per category a table of each term's AUCs, swap gap and template score; the most-changed
    swaps as words; the terms too small to judge."""
    out = CheckSection(plugin.name, plugin.title)
    evidence = inputs.evidence
    level = inputs.settings.confidence_pct
    if isinstance(evidence, IdentityTermsEvidence) and evidence.reason:
        out.empty_message = f"Not applicable: {evidence.reason}."
        return out
    metrics = inputs.metrics
    overall = next((m for m in metrics if m.name == "overall_auc"), None)
    if overall is not None:
        out.sentences.append(f"Overall AUC on all rows: {value_ci(overall)} ({level} interval).")
    columns = {name: _by(metrics, name) for name in _TERM_COLUMNS}
    mentions = _by(metrics, "mentions")
    ctf = _by(metrics, "ctf_gap")
    flips = _by(metrics, "swap_flip_rate")
    # a table per category the data mention; the others have only template scores (below)
    categories = list(
        dict.fromkeys(
            m.feature
            for m in metrics
            if m.name in ("mentions", "ctf_gap_term") and m.feature is not None
        )
    )
    for category in categories:
        terms = list(
            dict.fromkeys(m.group for m in metrics if m.feature == category and m.group is not None)
        )
        rows = []
        for term in terms:
            seen = mentions.get((category, term))
            cells = [Cell(term), Cell(fmt(seen.value) if seen else "—", "num")]
            cells += [
                Cell(value_ci(columns[c].get((category, term))), "num") for c in _TERM_COLUMNS
            ]
            rows.append(cells)
        gap, flip = ctf.get((category, None)), flips.get((category, None))
        caption = f"{category}: per term, with {level} bootstrap intervals"
        if gap is not None:
            caption += f"; CTF gap {value_ci(gap)}"
        if flip is not None:
            caption += f", decisions flipped by swaps {value_ci(flip)}"
        out.tables.append(
            table(
                caption,
                (
                    "Term",
                    "Mentions",
                    "Subgroup AUC",
                    "BPSN AUC",
                    "BNSP AUC",
                    "Swap gap",
                    "Template score",
                ),
                rows,
            )
        )
    _template_table(out, metrics, level)
    if isinstance(evidence, IdentityTermsEvidence):
        if evidence.examples:
            out.tables.append(
                table(
                    "Most-changed swaps (probability change: total variation; binary: |Δp|)",
                    ("Category", "Swap", "Before", "After", "Score", "Change"),
                    [
                        (
                            Cell(e.category),
                            Cell(f"{e.source} → {e.target}"),
                            Cell(clip(e.before)),
                            Cell(clip(e.after)),
                            Cell(f"{fmt(e.score_before)} → {fmt(e.score_after)}", "num"),
                            Cell(fmt(e.change), "num"),
                        )
                        for e in evidence.examples
                    ],
                )
            )
        if evidence.too_small:
            listed = ", ".join(f"{t} ({c}, n = {n})" for c, t, n in evidence.too_small[:20])
            out.sentences.append(
                f"Not measured, too few positives or negatives (under "
                f"{evidence.min_group_size}): {listed}"
                + (" and more" if len(evidence.too_small) > 20 else "")
                + ". Their categories' AUC aggregates are insufficient data."
            )
        if evidence.unmentioned:
            out.sentences.append(
                "No row mentions a term of: " + ", ".join(evidence.unmentioned) + "."
            )
    if not metrics:
        out.empty_message = "Nothing was measured."
    return out


def _template_table(out: CheckSection, metrics: Sequence[Metric], level: str) -> None:
    """One row per category: the spread of template scores, Dixon's equality differences,
    and the terms scored highest and lowest."""
    gaps = _by(metrics, "template_score_gap")
    if not gaps:
        return
    fped, fned = _by(metrics, "template_fped"), _by(metrics, "template_fned")
    rows = []
    for (category, _), gap in gaps.items():
        scores = [m for m in metrics if m.name == "template_mean_score" and m.feature == category]
        top = max(scores, key=lambda m: m.value)
        low = min(scores, key=lambda m: m.value)
        rows.append(
            (
                Cell(str(category)),
                Cell(value_ci(gap), "num"),
                Cell(value_ci(fped.get((category, None))), "num"),
                Cell(value_ci(fned.get((category, None))), "num"),
                Cell(f"{top.group} ({fmt(top.value)})"),
                Cell(f"{low.group} ({fmt(low.value)})"),
            )
        )
    out.tables.append(
        table(
            f"Templates: mean-score spread and equality differences per category ({level} "
            "bootstrap intervals over templates)",
            ("Category", "Score gap", "FPED", "FNED", "Highest", "Lowest"),
            rows,
        )
    )


def plain_sentence(finding: Finding, metrics: Sequence[Metric], confidence_pct: str) -> str | None:
    """A judged swap gap, template gap or worst-term AUC gap in words; None for the others and
    for findings that were not judged (the generic sentence gives the judge's reason)."""
    metric, threshold = finding.metric, finding.threshold
    if (
        metric is None
        or metric.feature is None
        or threshold is None
        or finding.status in _NOT_JUDGED
    ):
        return None
    name = finding.metric_name
    unit = _UNITS.get(name, "difference")
    need = f"; the policy requires {requirement(threshold, confidence_pct, unit)}."
    if name in _WORDS:
        found = measured(metric, confidence_pct, unit)
        tail = {"swap_flip_rate": " of the swaps", "ctf_gap": " on average"}.get(name, "")
        return f"In {metric.feature}, {_WORDS[name]} {found}{tail}{need}"
    if name not in _AUC_GAP:
        return None
    per_term, words = _AUC_GAP[name]
    overall = next((m for m in metrics if m.name == "overall_auc"), None)
    gaps = [m for m in metrics if m.name == f"{per_term}_gap" and m.feature == metric.feature]
    if overall is None or not gaps:
        return None
    worst = max(gaps, key=lambda m: m.value)
    if worst.value <= 0:  # no term does worse than all texts: the generic sentence serves
        return None
    term_auc = _by(metrics, per_term).get((metric.feature, worst.group))
    if term_auc is None:
        return None
    text = words.format(term=worst.group, auc=fmt(term_auc.value), overall=fmt(overall.value))
    gap = measured(metric, confidence_pct, unit)
    return f"In {metric.feature}, {text}; the largest gap is {gap}{need}"


__all__ = ["plain_sentence", "section"]
