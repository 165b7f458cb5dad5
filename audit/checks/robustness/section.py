"""The robustness check's report section."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from audit.checks.robustness.evidence import RobustnessEvidence
from audit.presentation import plots
from audit.presentation.format import clip, fmt, fmt_cell
from audit.presentation.view import (
    MAX_EXAMPLES,
    Cell,
    CheckSection,
    SectionInput,
    Table,
    figure,
    metrics_table,
    table,
    threshold_lines,
    value_ci,
)
from audit.records import Metric

if TYPE_CHECKING:
    from audit.plugin import CheckPlugin

LEVEL_CURVES = (
    ("accuracy", "Accuracy"),
    ("flip_rate", "Flip rate"),
    ("accuracy_ratio", "Accuracy relative to clean"),
)


def section(plugin: CheckPlugin, inputs: SectionInput) -> CheckSection:
    """Level curves per family, the adversarial ε curve, flipped examples and tables."""
    section = CheckSection(plugin.name, plugin.title)
    metrics = list(inputs.metrics)
    confidence = inputs.settings.confidence_pct
    for name, label in LEVEL_CURVES:
        graded = [m for m in metrics if m.name == name and m.level is not None]
        if not graded:
            continue
        families: dict[str, list[Metric]] = defaultdict(list)
        for m in graded:
            families[m.perturbation or "?"].append(m)
        series = []
        for family, ms in sorted(families.items()):
            ms = sorted(ms, key=lambda m: m.level or 0)
            has_ci = all(m.ci_low is not None for m in ms)
            series.append(
                plots.Series(
                    family,
                    tuple(float(m.level or 0) for m in ms),
                    tuple(m.value for m in ms),
                    tuple(m.ci_low or 0.0 for m in ms) if has_ci else None,
                    tuple(m.ci_high or 0.0 for m in ms) if has_ci else None,
                )
            )
        section.figures.append(
            figure(
                plots.curves(
                    series,
                    threshold_lines(inputs.findings, "robustness", name),
                    xlabel="level",
                    ylabel=name,
                    title=f"{label} by level, per perturbation family",
                    xticks=range(1, 6),
                ),
                f"{label} against level for each perturbation family",
                f"{label} against level (1 = mildest, 5 = harshest); bands are {confidence} Wilson "
                "intervals, dashed lines policy thresholds.",
            )
        )
    ev = inputs.evidence if isinstance(inputs.evidence, RobustnessEvidence) else None
    if ev is not None:
        _evidence(section, ev)
    graded_keys = {(m.perturbation, m.level) for m in metrics if m.level is not None}
    if graded_keys:
        section.tables.append(_graded_table(metrics, sorted(graded_keys, key=str), confidence))
    other = [m for m in metrics if m.level is None]
    if other:
        section.tables.append(metrics_table(other, "Adversarial and other robustness measurements"))
    return section


def _evidence(section: CheckSection, ev: RobustnessEvidence) -> None:
    """The notes, the scale each level stands for, the attack and the flipped inputs."""
    section.sentences.extend(ev.notes)
    for family, words in ev.text_families.items():
        section.sentences.append(f"Family {family}: {words}.")
    if ev.levels:
        rows = [
            (Cell(family), *(Cell(fmt_cell(v), "num") for v in values))
            for family, values in ev.levels.items()
        ]
        width = max(len(v) for v in ev.levels.values())
        section.tables.append(
            table(
                "What each level means: the share of each text's words edited (at least one edit)"
                if ev.text_families
                else f"What each level means: the perturbation's scale ({ev.epsilon_units} "
                "for noise; the probability of a redraw for categorical flips)",
                ("Family", *(f"Level {i}" for i in range(1, width + 1))),
                rows,
                cls="levels",
            )
        )
    if ev.text_edits:
        section.tables.append(_text_edits_table(ev))
    if ev.attack_radius:
        radii = ", ".join(f"{norm} ε = {fmt_cell(r)}" for norm, r in ev.attack_radius.items())
        section.sentences.append(
            f"FGSM and PGD attacked every sampled input at radius {radii}, in {ev.epsilon_units}."
        )
    if ev.min_flip is not None:
        m = ev.min_flip
        section.sentences.append(
            f"The minimum flipping ε was searched for {m.n} inputs up to ε = "
            f"{fmt_cell(m.search_max)} in steps of {fmt_cell(m.search_step)}; "
            f"{m.not_flipped} did not flip within that range."
        )
    if ev.neutral_tokens:
        ids = ", ".join(map(str, ev.neutral_tokens))
        section.sentences.append(f"Neutral insertions drew from the token ids {ids}.")
    if ev.invariance_tolerance is not None:
        section.sentences.append(
            "An edit counts as an invariance failure when the class probability moves by more "
            f"than {fmt_cell(ev.invariance_tolerance)} (CheckList INV)."
        )
    curve = ev.epsilon_curve
    if curve is not None and curve.epsilon:
        s = plots.Series("robust accuracy", curve.epsilon, curve.accuracy)
        section.figures.append(
            figure(
                plots.curves(
                    [s],
                    [],
                    xlabel=f"ε ({curve.norm}, {ev.epsilon_units})",
                    ylabel="accuracy",
                    title=f"Adversarial accuracy against ε ({curve.norm})",
                ),
                "Accuracy under adversarial attack against perturbation radius",
                "Accuracy under attack at each radius ε. Attacks can only show weakness, so "
                "this is an upper bound on the true robust accuracy.",
            )
        )
    flips = ev.flips[:MAX_EXAMPLES]
    if ev.modality == "image" and flips:
        pairs = [
            plots.ImagePair(
                f.before,
                f.after,
                f"pred {f.pred}",
                f"{f.perturbation}@{f.level} → {f.pred_after}",
            )
            for f in flips
        ]
        section.figures.append(
            figure(
                plots.image_grid(pairs),
                "Original and perturbed images whose predicted class changed",
                "Each pair: the original input and its perturbed copy, with both predictions"
                + (
                    f" (pixel values span {fmt_cell(ev.value_range[0])} to "
                    f"{fmt_cell(ev.value_range[1])})."
                    if ev.value_range
                    else "."
                ),
                cls="grid",
            )
        )
    elif ev.modality == "tabular" and flips:
        rows = []
        for f in flips:
            cells = [
                (name, _decoded(ev, name, b), _decoded(ev, name, a))
                for name, b, a in zip(ev.columns, f.before.tolist(), f.after.tolist(), strict=True)
            ]
            changed = "; ".join(f"{clip(n, 40)}: {b} → {a}" for n, b, a in cells if b != a)
            kept = " · ".join(f"{clip(n, 40)} {b}" for n, b, a in cells if b == a)
            rows.append(
                (
                    Cell(f"{f.perturbation}@{f.level}"),
                    Cell(f"{f.pred} → {f.pred_after}", "num"),
                    Cell(clip(changed, 300), "changed"),
                    Cell(clip(kept, 400)),
                )
            )
        section.tables.append(
            table(
                "Tabular rows whose prediction flipped: the cells the perturbation changed "
                "(before → after), and the rest of the row as it was",
                ("Perturbation", "Prediction", "Changed cells", "Rest of the row"),
                rows,
                cls="flipped",
            )
        )
    elif ev.text_flips:
        rows = [
            (
                Cell(f"{f.perturbation}@{f.level}"),
                Cell(f"{f.pred} → {f.pred_after}", "num"),
                Cell(clip("; ".join(_shown(f.perturbation, b, a) for b, a in f.edits), 160)),
                Cell(clip(f.after, 160)),
            )
            for f in ev.text_flips[:MAX_EXAMPLES]
        ]
        section.tables.append(
            table(
                "Texts whose prediction flipped under an edit: the edited words (original → "
                "perturbed; ␣ marks a space, ∅ a dropped word) and the perturbed text",
                ("Edit", "Prediction", "Edited words", "Perturbed text"),
                rows,
                cls="flipped",
            )
        )
    elif ev.modality == "text" and flips:
        rows = [
            (
                Cell(f"{f.perturbation}@{f.level}"),
                Cell(f"{f.pred} → {f.pred_after}", "num"),
                Cell(clip(" ".join(map(str, f.before.tolist())), 120)),
                Cell(clip(" ".join(map(str, f.after.tolist())), 120)),
            )
            for f in flips
        ]
        section.tables.append(
            table(
                "Texts whose prediction flipped under an edit (token ids, padding removed)",
                ("Edit", "Prediction", "Before", "After"),
                rows,
                cls="flipped",
            )
        )


def _decoded(ev: RobustnessEvidence, column: str, value: float) -> str:
    """A cell as the data's own label (`data.categories`) when the column is coded, else
    the number."""
    labels = ev.categories.get(column)
    if labels is not None and float(value).is_integer() and 0 <= int(value) < len(labels):
        return labels[int(value)]
    return fmt_cell(value)


def _shown(family: str, before: str, after: str) -> str:
    """One edit as `original → perturbed`; spaces made visible where spacing is the edit."""
    if family == "whitespace_punctuation":
        before, after = before.replace(" ", "␣"), after.replace(" ", "␣")
    return f"{before} → {after or '∅'}"


def _text_edits_table(ev: RobustnessEvidence) -> Table:
    """Per raw-text family, per level: texts edited, edits per text, texts truncated."""
    rows = []
    for family, e in ev.text_edits.items():
        for label, values in (
            (f"texts edited (of {ev.n})", [str(m) for m in e.edited]),
            ("edits per edited text", [fmt_cell(x) for x in e.mean_edits]),
            ("texts truncated", [str(t) for t in e.truncated]),
        ):
            rows.append((Cell(family), Cell(label), *(Cell(v, "num") for v in values)))
    width = max(len(e.edited) for e in ev.text_edits.values())
    return table(
        "What the raw-text edits did: texts each family could edit (the n of its metrics), "
        "edits per edited text, and edited texts cut at the model's maximum length",
        ("Family", "Measure", *(f"Level {i}" for i in range(1, width + 1))),
        rows,
        cls="text-edits",
    )


def _graded_table(
    metrics: Sequence[Metric], keys: Sequence[tuple[str | None, int]], confidence: str
) -> Table:
    """One row per family and level, the graded metrics side by side."""
    by_key = {(m.perturbation, m.level, m.name): m for m in metrics if m.level is not None}
    rows = []
    for family, level in keys:
        found = [by_key.get((family, level, name)) for name, _ in LEVEL_CURVES]
        n = next((m.n for m in found if m is not None and m.n is not None), None)
        rows.append(
            (
                Cell(f"{family}"),
                Cell(str(level), "num"),
                *(Cell(value_ci(m), "num") for m in found),
                Cell(fmt(n), "num"),
            )
        )
    return table(
        f"Graded perturbations: each family at each level, with {confidence} confidence intervals",
        ("Family", "Level", *(label for _, label in LEVEL_CURVES), "n"),
        rows,
        cls="graded",
    )
