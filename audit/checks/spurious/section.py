"""The spurious-feature check's report section."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from audit.checks.spurious.evidence import (
    Example,
    ImageExample,
    SpuriousEvidence,
    TabularExample,
    TextExample,
)
from audit.presentation import plots
from audit.presentation.format import clip, fmt, fmt_ci
from audit.presentation.view import (
    MAX_EXAMPLES,
    Cell,
    CheckSection,
    HighlightedText,
    SectionInput,
    TextHighlights,
    figure,
    highlights,
    metrics_table,
    table,
)

if TYPE_CHECKING:
    from audit.plugin import CheckPlugin
    from audit.records import Metric

ENRICHMENT_NAMES = ("enrichment", "attribution_enrichment")
ROLLOUT_CAPTION = (
    "Attention rollout (supporting evidence, not judged by the policy): the same inputs as "
    "the attribution heatmaps, each beside the share of the [CLS] token's information that "
    "rollout traces back to each pixel (brighter = more; Abnar and Zuidema 2020: attention "
    "averaged over heads, the residual added, multiplied through the layers), drawn on the "
    "raw image with the artifact outlined. Rollout follows attention weights alone: it "
    "ignores the value vectors, the MLPs and the classifier, so it is the same whatever the "
    "class and blind to the layers above the last attention. Attention is not explanation: "
    "read these maps beside the counterfactual flip rates, never instead of them."
)
LOCAL = "(local)"  # the probe label of a local explanation (spurious/context.py)


def _text(examples: Sequence[Example]) -> bool:
    return any(isinstance(e, TextExample) for e in examples)


SHADOW = "(shadow)"  # the shuffled copy of a feature (spurious/context.py)


# Features named per local explanation of a tabular row: the largest contributions.
TOP_CONTRIBUTIONS = 5


def _tabular_local(section: CheckSection, examples: Sequence[Example]) -> None:
    """Each explained row: prediction, label and confidence, and its top contributions."""
    rows = []
    for e in examples:
        if not isinstance(e, TabularExample):
            continue
        order = sorted(range(len(e.features)), key=lambda j: -abs(e.attribution[j]))
        top = "; ".join(
            f"{clip(e.features[j], 40)} = {e.values[j]} ({e.attribution[j]:+.3g})"
            for j in order[:TOP_CONTRIBUTIONS]
        )
        verdict = "correct" if e.pred == e.label else "wrong"
        rows.append(
            (
                Cell(f"{e.pred} ({e.confidence:.0%})", "num"),
                Cell(f"{e.label} ({verdict})"),
                Cell(top),
            )
        )
    if rows:
        section.tables.append(
            table(
                "Local explanations: the model's most confident mistakes (else its least "
                "confident rows), each with the features that contributed most towards its "
                "prediction (signed attribution; + pushes towards the predicted class). A local "
                "explanation shows what the model used for this one row; it is not a cause, "
                "and not evidence of reliance on its own.",
                ("Predicted (probability)", "Label", "Largest contributions"),
                rows,
            )
        )


def _label(pred: int, label: int | None) -> str:
    """ ", label 0 (wrong)" beside a local explanation's prediction; nothing when unknown."""
    if label is None:
        return ""
    return f", label {label}" + ("" if pred == label else " (wrong)")


def _examples(
    section: CheckSection, examples: Sequence[Example], caption: str, maps: str = "attribution"
) -> None:
    """Image examples as one grid of heatmaps; text examples as highlighted token strips.

    `maps` other than attribution (attention rollout) names a class-agnostic map: its panels
    say what they show and the prediction after the edit, not a class they explain."""
    images = [e for e in examples if isinstance(e, ImageExample)][:MAX_EXAMPLES]
    if images:
        pairs = [
            plots.ImagePair(
                e.image,
                e.attribution,
                f"pred {e.pred}{_label(e.pred, e.label)}",
                f"attribution → {e.pred_after}"
                if maps == "attribution"
                else f"{maps}, pred → {e.pred_after}",
                region=e.region,
                right_is_attribution=True,
            )
            for e in images
        ]
        probes = sorted({e.probe for e in images})
        section.figures.append(
            figure(
                plots.image_grid(pairs),
                f"Grid of inputs beside {maps} heatmaps",
                f"{caption} Probes: {', '.join(probes)}.",
                cls="grid",
            )
        )
    texts = [e for e in examples if isinstance(e, TextExample)][:MAX_EXAMPLES]
    if texts:
        unit = "word" if all(e.unit == "word" for e in texts) else "token"
        local = all(e.probe == LOCAL for e in texts)
        section.text_examples.append(
            TextHighlights(
                title="Local explanations" if local else "Text examples",
                caption=caption.replace("{unit}", unit),
                towards=f"this {unit} pushes towards the class explained",
                against=f"this {unit} pushes away from it",
                marked="" if local else "outlined: placed by the probe",
                texts=tuple(
                    HighlightedText(
                        f"{e.probe}: prediction {e.pred} → {e.pred_after}"
                        if not local
                        else f"prediction {e.pred}{_label(e.pred, e.label)}, explained for "
                        f"class {e.pred_after}",
                        highlights(e.tokens, e.attribution, e.marked),
                    )
                    for e in texts
                ),
            )
        )


def _word_importance(section: CheckSection, ev: SpuriousEvidence, level: str) -> None:
    """The words with the highest mean |attribution| over the sample, with intervals."""
    words = ev.word_importance
    if not words:
        return
    section.figures.append(
        figure(
            plots.hbars(
                [plots.Interval(w.word, w.mean, w.ci_low, w.ci_high) for w in words],
                [],
                xlabel="mean |attribution| (probability)",
                title="Most attributed words",
            ),
            "The words with the highest mean attribution across the sample, with intervals",
            f"The words with the highest mean |attribution| ({ev.method}, sub-word tokens "
            "summed per word) towards each text's predicted class, over their occurrences in "
            f"the sample (seen at least {min(w.count for w in words)} times), with bootstrap "
            f"{level} CIs. Context only: a word the model weighs is not shown to be a "
            "shortcut until a probe's counterfactual test says so.",
        )
    )
    section.tables.append(
        table(
            f"Most attributed words, with {level} bootstrap intervals",
            ("Word", "Mean |attribution|", "CI", "Occurrences"),
            [
                (
                    Cell(clip(w.word, 40)),
                    Cell(fmt(w.mean), "num"),
                    Cell(fmt_ci(w.ci_low, w.ci_high), "num"),
                    Cell(fmt(w.count), "num"),
                )
                for w in words
            ],
        )
    )


# Each probe variant (a metric's `perturbation`) in words, defined where the report first
# shows it; a variant whose name ends in a null's suffix is defined by that null.
VARIANTS = {
    "permute": "permute: the feature's values shuffled across rows, so it keeps its "
    "distribution but says nothing about its own row",
    "swap": "swap: each row's value replaced by a different value seen in the data (tabular), "
    "or the artifact replaced by ordinary content of the same size (text: data words with "
    "the phrase's token count)",
    "reference": "reference: the feature set to its median in every row",
    "insert": "insert: the artifact added to inputs that lack it",
    "remove": "remove: the artifact taken out of inputs that carry it",
}
NULLS = {
    "location_null": "location null: the same edit at another place of the same input; a "
    "model that merely reacts to any edit flips as often here",
    "content_null": "content null: other ordinary content of the same size at the same place; "
    "a model that reacts to the place, not the artifact, flips as often here",
}


def variant_definitions(metrics: Sequence[Metric]) -> list[str]:
    """ "Variants in this section: ...", one definition per variant the metrics use."""
    used = sorted({m.perturbation for m in metrics if m.check == "spurious" and m.perturbation})
    parts = [VARIANTS[v] for v in VARIANTS if v in used]
    parts += [text for key, text in NULLS.items() if any(v.endswith(key) for v in used)]
    return [f"What each variant means: {'; '.join(parts)}."] if parts else []


def section(plugin: CheckPlugin, inputs: SectionInput) -> CheckSection:
    """Heatmaps and highlighted text, flip rates against the nulls, enrichment, importance."""
    section = CheckSection(plugin.name, plugin.title)
    metrics = list(inputs.metrics)
    section.sentences.extend(variant_definitions(metrics))
    ev = inputs.evidence if isinstance(inputs.evidence, SpuriousEvidence) else None
    level = inputs.settings.confidence_pct
    if ev is not None:
        _examples(
            section,
            ev.examples,
            "Each pair: an input with its prediction, and the magnitude of its attribution "
            "(brighter = more) with the prediction once the artifact is inserted; the probed "
            "artifact is outlined. Attribution shows where, not why."
            if not _text(ev.examples)
            else "Texts as the probe edited them, the flipped ones first: each {unit} shaded "
            "by its signed attribution towards the prediction after the edit (sub-word "
            "tokens summed per word; the stronger the shade, the larger its share of the "
            "text's largest attribution). Attribution shows where the model looked, not why.",
        )
        _examples(section, ev.rollout_examples, ROLLOUT_CAPTION, maps="rollout")
        _tabular_local(section, ev.local_examples)
        _examples(
            section,
            ev.local_examples,
            "Local explanations of misclassified (else least confident) inputs: each input "
            "beside the magnitude of its attribution for the predicted class. A local "
            "explanation shows where the model looked for this input, not why, and is not "
            "a cause."
            if not _text(ev.local_examples)
            else "Misclassified (else least confident) texts, each {unit} shaded by its "
            "signed attribution towards the predicted class. A local explanation shows "
            "where the model looked for this one input; it is not a cause, and not "
            "evidence of reliance on its own.",
        )
    probes = sorted({m.probe for m in metrics if m.probe is not None})
    for probe in probes:
        flips = [m for m in metrics if m.probe == probe and m.name == "flip_rate"]
        if flips:
            nulls = [m for m in flips if "null" in (m.perturbation or "")]
            lines = [plots.Line(min(m.value for m in nulls), "smaller null")] if nulls else []
            items = [
                plots.Interval(
                    m.perturbation or "artifact", m.value, m.ci_low, m.ci_high, muted=m in nulls
                )
                for m in flips
            ]
            section.figures.append(
                figure(
                    plots.bars(items, lines, ylabel="flip rate", title=f"Flip rate: {probe}"),
                    f"Flip rates of probe {probe} and its nulls with confidence intervals",
                    f"Probe {probe}: share of predictions that flip, for the artifact (colour) "
                    f"and its nulls (grey), with {level} Wilson intervals.",
                )
            )
    _enrichment_chart(
        section,
        metrics,
        "Attribution enrichment",
        "Share of attribution on the artifact divided by its share of the input; 1 means no "
        f"more attention than its size predicts. Bootstrap {level} CIs.",
    )
    supporting = list(ev.supporting) if ev is not None else []
    _enrichment_chart(
        section,
        supporting,
        "Attention-rollout enrichment (supporting evidence)",
        "The same enrichment measured on the attention-rollout maps: the artifact's share of "
        "the [CLS] token's rolled-out attention over its share of the input, with the same "
        f"masks, location nulls and bootstrap ({level} CIs). Supporting evidence, not judged "
        "by the policy.",
    )
    if ev is not None and ev.importance:
        importance = sorted(ev.importance, key=lambda r: -r.share)[:25]
        shadow = [r for r in importance if r.feature == SHADOW]
        items = [
            plots.Interval(r.feature, r.share, r.ci_low, r.ci_high, muted=r.feature == SHADOW)
            for r in importance
        ]
        lines = [plots.Line(shadow[0].share, "shadow feature")] if shadow else []
        section.figures.append(
            figure(
                plots.hbars(
                    items, lines, xlabel="share of attribution", title="Global feature importance"
                ),
                "Global feature importance with confidence intervals",
                f"Each feature's share of total attribution ({ev.method}), with bootstrap "
                f"{level} CIs. The shadow feature is a shuffled copy: features below it carry no "
                "more signal than noise.",
            )
        )
    if ev is not None:
        _word_importance(section, ev, level)
    if not probes:
        section.sentences.append(
            "No spurious-feature probes were declared, so no reliance was judged."
        )
    if ev is not None:
        section.sentences.extend(ev.sentences)
        section.sentences.append(
            f"Explainer sanity check ({ev.method}): after randomizing the model's top layers, "
            f"the attributions' rank correlation with the original is {ev.sanity_spearman:.2f} "
            "(near 1 would mean the explanations do not depend on what the model learned)."
        )
        section.sentences.extend(_rollout_sentences(ev))
    if metrics:
        section.tables.append(metrics_table(metrics, "All spurious-feature measurements"))
    if supporting:
        section.tables.append(
            metrics_table(
                supporting,
                "Supporting evidence, not judged by the policy: the attribution statistics "
                "measured on attention-rollout maps (method attention_rollout)",
            )
        )
    return section


def _enrichment_chart(
    section: CheckSection, metrics: Sequence[Metric], title: str, caption: str
) -> None:
    """Each probe's enrichment and its location null as bars, beside E = 1."""
    enrich = [m for m in metrics if m.name in ENRICHMENT_NAMES]
    if not enrich:
        return
    items = [
        plots.Interval(
            f"{m.probe} ({m.perturbation})" if m.probe and m.perturbation else m.subject,
            m.value,
            m.ci_low,
            m.ci_high,
            muted="null" in (m.perturbation or ""),
        )
        for m in enrich
    ]
    section.figures.append(
        figure(
            plots.bars(
                items,
                [plots.Line(1.0, "no enrichment (E = 1)")],
                ylabel="enrichment E = ρ / a",
                title=title,
            ),
            f"{title} on each probe's artifact with confidence intervals",
            caption,
        )
    )


def _rollout_sentences(ev: SpuriousEvidence) -> list[str]:
    """What the ViT's attention rollout says, per probe and for its sanity check."""
    if ev.rollout_sanity_spearman is None:
        return []
    found = {(m.probe, m.name, m.perturbation): m for m in ev.supporting}
    out = []
    for probe in sorted({m.probe for m in ev.supporting if m.probe is not None}):
        e = found.get((probe, "attribution_enrichment", "insert"))
        if e is None or e.ci_low is None or e.ci_high is None:
            continue
        null = found.get((probe, "attribution_enrichment", "location_null"))
        elsewhere = "" if null is None else f"; the same mask elsewhere {null.value:.1f}x"
        out.append(
            f"Attention rollout, probe {probe} (supporting evidence, not judged): the "
            f"artifact holds {e.value:.1f}x its area's share of the rolled-out attention of "
            f"the [CLS] token (CI {e.ci_low:.1f} to {e.ci_high:.1f}{elsewhere})."
        )
    out.append(
        "Rollout sanity check: after the same randomization of the top layers, the rollout "
        f"maps' rank correlation with the original is {ev.rollout_sanity_spearman:.2f}. "
        "Rollout reads attention weights only, so layers above the last attention (the "
        "classifier, the last MLP) cannot change it; a value near 1 is why rollout is shown "
        "as supporting evidence and never judged."
    )
    return out
