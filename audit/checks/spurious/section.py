"""The spurious-feature check's report section."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from audit.checks.spurious.evidence import (
    Example,
    ImageExample,
    SpuriousEvidence,
    TextExample,
)
from audit.presentation import plots
from audit.presentation.format import clip
from audit.presentation.view import (
    MAX_EXAMPLES,
    CheckSection,
    SectionInput,
    figure,
    metrics_table,
)

if TYPE_CHECKING:
    from audit.plugin import CheckPlugin

ENRICHMENT_NAMES = ("enrichment", "attribution_enrichment")
SHADOW = "(shadow)"  # the shuffled copy of a feature (spurious/context.py)


def _examples(section: CheckSection, examples: Sequence[Example], caption: str) -> None:
    """Image examples as one grid of heatmaps; text examples as highlighted token strips."""
    images = [e for e in examples if isinstance(e, ImageExample)][:MAX_EXAMPLES]
    if images:
        pairs = [
            plots.ImagePair(
                e.image,
                e.attribution,
                f"pred {e.pred}",
                f"attribution → {e.pred_after}",
                region=e.region,
                right_is_attribution=True,
            )
            for e in images
        ]
        probes = sorted({e.probe for e in images})
        section.figures.append(
            figure(
                plots.image_grid(pairs),
                "Grid of inputs beside attribution heatmaps",
                f"{caption} Probes: {', '.join(probes)}.",
                cls="grid",
            )
        )
    for e in [e for e in examples if isinstance(e, TextExample)][:MAX_EXAMPLES]:
        attr = np.abs(np.asarray(e.attribution, dtype=float))
        top = float(attr.max()) if attr.size and attr.max() > 0 else 1.0
        marked = set(e.marked)
        section.text_examples.append(
            {
                "probe": e.probe,
                "pred": e.pred,
                "pred_after": e.pred_after,
                "tokens": [
                    {
                        "text": clip(tok, 40),
                        "style": f"background-color: rgba(230, 159, 0, {a / top:.2f})",
                        "marked": i in marked,
                    }
                    for i, (tok, a) in enumerate(zip(e.tokens, attr, strict=True))
                ],
            }
        )


def section(plugin: CheckPlugin, inputs: SectionInput) -> CheckSection:
    """Heatmaps and highlighted text, flip rates against the nulls, enrichment, importance."""
    section = CheckSection(plugin.name, plugin.title)
    metrics = list(inputs.metrics)
    ev = inputs.evidence if isinstance(inputs.evidence, SpuriousEvidence) else None
    level = inputs.settings.confidence_pct
    if ev is not None:
        _examples(
            section,
            ev.examples,
            "Each pair: an input with its prediction, and the magnitude of its attribution "
            "(brighter = more) with the prediction once the artifact is inserted; the probed "
            "artifact is outlined. Attribution shows where, not why.",
        )
        _examples(
            section,
            ev.local_examples,
            "Local explanations of misclassified (else least confident) inputs: each input "
            "beside the magnitude of its attribution for the predicted class. A local "
            "explanation shows where the model looked for this input, not why, and is not "
            "a cause.",
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
    enrich = [m for m in metrics if m.name in ENRICHMENT_NAMES]
    if enrich:
        items = [plots.Interval(m.probe or m.subject, m.value, m.ci_low, m.ci_high) for m in enrich]
        section.figures.append(
            figure(
                plots.bars(
                    items,
                    [plots.Line(1.0, "no enrichment (E = 1)")],
                    ylabel="enrichment E = ρ / a",
                    title="Attribution enrichment",
                ),
                "Attribution enrichment on each probe's artifact with confidence intervals",
                "Share of attribution on the artifact divided by its share of the input; 1 means "
                f"no more attention than its size predicts. Bootstrap {level} CIs.",
            )
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
    if metrics:
        section.tables.append(metrics_table(metrics, "All spurious-feature measurements"))
    return section
