"""The circuits check's part of the report: per probe, a layer x head heatmap of the ablation
effect and one of the attention share, the circuit with its confirmations, and a sentence."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.checks.circuits.evidence import CircuitsEvidence, ProbeCircuit
from audit.plugin import CheckPlugin
from audit.presentation import plots
from audit.presentation.format import fmt, fmt_ci
from audit.presentation.view import (
    Cell,
    CheckSection,
    Figure,
    SectionInput,
    figure,
    metrics_table,
    table,
)
from audit.records import Finding, Metric

CONFIRMATIONS = (
    ("circuit_ablation_effect", "necessity: share of the effect its ablation removes"),
    ("circuit_random_null", "null: share as many random other heads remove"),
    ("circuit_null_excess", "excess over the null"),
    ("circuit_patching_recovery", "sufficiency: share restored by patching it into clean runs"),
    ("circuit_accuracy_drop", "accuracy lost when it is ablated"),
)


def _names(heads: Sequence[tuple[int, int]]) -> str:
    labels = [f"{layer}.{head}" for layer, head in heads]
    if len(labels) == 1:
        return f"Head {labels[0]}"
    return "Heads " + ", ".join(labels[:-1]) + " and " + labels[-1]


def sentence(metrics: Sequence[Metric], probe: str) -> str | None:
    """ "Heads 1.3 and 0.2 carry 86% of the shortcut's effect (random pairs: 4%); ..." """
    mine = [m for m in metrics if m.check == "circuits" and m.probe == probe]
    by = {m.name: m for m in mine if m.layer is None}
    heads = [
        (int(m.layer), int(m.head))
        for m in mine
        if m.name == "circuit_head" and m.layer is not None and m.head is not None
    ]
    if "circuit_ablation_effect" not in by or not heads:
        return None
    k = len(heads)
    verb = "carries" if k == 1 else "carry"
    null = by.get("circuit_random_null")
    null_txt = (
        ""
        if null is None
        else f" (random {'heads' if k == 1 else f'sets of {k}'}: {null.value:.0%})"
    )
    text = (
        f"{_names(heads)} {verb} {by['circuit_ablation_effect'].value:.0%} of the effect of "
        f"“{probe}”{null_txt}"
    )
    rec = by.get("circuit_patching_recovery")
    if rec is not None:
        who = "it restores" if k == 1 else "they restore"
        text += f"; patched into texts without it, {who} {rec.value:.0%} of the effect"
    drop = by.get("circuit_accuracy_drop")
    if drop is not None:
        them = "it" if k == 1 else "them"
        text += f", and removing {them} costs {100 * drop.value:.1f} points of accuracy"
    return text + "."


def section(plugin: CheckPlugin, inputs: SectionInput) -> CheckSection:
    out = CheckSection(plugin.name, plugin.title)
    evidence = inputs.evidence
    if isinstance(evidence, CircuitsEvidence):
        if evidence.reason:
            out.empty_message = f"Not applicable: {evidence.reason}."
        for probe in evidence.probes:
            _probe(out, probe, inputs.metrics)
        if evidence.importance.size:
            out.figures.append(
                _head_map(
                    evidence.importance,
                    title="importance for the task",
                    colorbar="loss increase (nats)",
                    alt="Layer by head map of the loss increase when each head is ablated.",
                    caption="Each head's importance for the task: the mean increase of the true "
                    "label's cross-entropy when it is ablated (Michel et al. 2019).",
                )
            )
    if inputs.metrics:
        out.tables.append(metrics_table(inputs.metrics, f"{plugin.title} measurements"))
    return out


def _head_map(
    grid: np.ndarray, *, title: str, colorbar: str, alt: str, caption: str, center: float = 0.0
) -> Figure:
    """A layer x head heatmap figure (every map of this section has these axes)."""
    svg = plots.heatmap(
        grid, title=title, xlabel="head", ylabel="layer", colorbar=colorbar, center=center
    )
    return figure(svg, alt=alt, caption=caption)


def _probe(out: CheckSection, probe: ProbeCircuit, metrics: Sequence[Metric]) -> None:
    if probe.ablation.size:
        out.figures.append(
            _head_map(
                probe.ablation,
                title="share of the effect removed",
                colorbar="share removed",
                alt=f"Layer by head map of the share of the effect of {probe.probe} removed "
                "when each head is ablated alone.",
                caption=f"Ablation effect of each head on “{probe.probe}” (effect "
                f"{fmt(probe.effect)} on P(class {probe.target}), {probe.n} texts).",
            )
        )
    if probe.attention.size:
        out.figures.append(
            _head_map(
                probe.attention,
                title="first-token attention enrichment",
                colorbar="enrichment",
                center=1.0,
                alt=f"Layer by head map of attention enrichment on {probe.probe}.",
                caption="Attention share (descriptive only: attention is not explanation).",
            )
        )
    if probe.reason:
        out.sentences.append(f"“{probe.probe}”: no circuit searched: {probe.reason}.")
        return
    said = sentence(metrics, probe.probe)
    if said:
        if not probe.found:
            said += " It did not reach the configured share within `max_heads`."
        out.sentences.append(said)
    by = {m.name: m for m in metrics if m.probe == probe.probe and m.layer is None}
    rows = [
        (
            Cell(label),
            Cell(fmt(by[name].value), "num"),
            Cell(fmt_ci(by[name].ci_low, by[name].ci_high), "num"),
        )
        for name, label in CONFIRMATIONS
        if name in by
    ]
    heads = ", ".join(f"{layer}.{head}" for layer, head in probe.circuit)
    out.tables.append(
        table(f"Circuit for “{probe.probe}”: heads {heads}", ("Confirmation", "Value", "CI"), rows)
    )


def plain_sentence(finding: Finding, metrics: Sequence[Metric], confidence_pct: str) -> str | None:
    """The circuit in words, naming its heads, for the summary's "What needs attention"."""
    if finding.metric is None or finding.metric.probe is None:
        return None
    return sentence(metrics, finding.metric.probe)


__all__ = ["plain_sentence", "section", "sentence"]
