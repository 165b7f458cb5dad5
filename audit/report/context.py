"""Turn a finished `AuditResult` into the report's view model.

Every number is formatted, every sentence written and every figure drawn here, so the
templates only lay out what they are given. Strings from the audit (group names, messages)
stay raw: jinja2's autoescaping makes them safe, and the CSS wraps them.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from audit.records import (
    CHECK_NAMES,
    VERDICT_TEXT,
    AuditResult,
    Finding,
    Metric,
    Severity,
    Status,
    Verdict,
)
from audit.report import plots

MAX_TABLE_ROWS = 200
MAX_CELL_CHARS = 160
MAX_EXAMPLES = 9
TOP_FAILURES = 5

CHECK_TITLES = {
    "bias": "Bias and fairness",
    "spurious": "Spurious features",
    "robustness": "Robustness",
    "performance": "Performance",
}
STATUS_ORDER = (
    Status.FAIL,
    Status.ERROR,
    Status.INSUFFICIENT_DATA,
    Status.WARN,
    Status.WAIVED,
    Status.PASS,
    Status.SKIPPED,
)
STATUS_LABELS = {s: s.value.replace("_", " ") for s in Status}
PROBLEM_STATUSES = (Status.FAIL, Status.ERROR, Status.INSUFFICIENT_DATA, Status.WARN)
GROUP_METRICS = (
    ("selection_rate", "Selection rate"),
    ("true_positive_rate", "TPR"),
    ("false_positive_rate", "FPR"),
    ("false_negative_rate", "FNR"),
    ("precision", "Precision"),
    ("accuracy", "Accuracy"),
    ("expected_calibration_error", "ECE"),
)
AGGREGATES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
)
SEVERITY_CURVES = (
    ("accuracy", "Accuracy"),
    ("flip_rate", "Flip rate"),
    ("accuracy_ratio", "Accuracy relative to clean"),
)
ENRICHMENT_NAMES = ("enrichment", "attribution_enrichment")
EVIDENCE_ERROR = (
    "Some of this check's evidence could not be drawn ({error}); its figures are left out and "
    "every measurement is listed below."
)

# What each check measured and its known limits; shared by the PDF and the model card.
METHODS: dict[str, tuple[str, str]] = {
    "bias": (
        "Group metrics follow fairlearn's definitions: selection rate, true- and false-positive "
        "rates, false-negative rate, precision and accuracy per group, for each sensitive "
        "feature and every intersection of them; missing values form their own group. Rates "
        "carry Wilson intervals; differences and ratios carry bootstrap intervals over per-group "
        "confusion counts. Impact ratios divide each group's selection rate by the most-selected "
        "group's (EEOC four-fifths rule; NYC Local Law 144 layout).",
        "Groups smaller than the minimum group size ({min_group_size}) are reported as "
        "insufficient data, never as passing. Group metrics describe this dataset only; they do "
        "not prove or rule out discrimination in deployment, and parity on one metric can "
        "coexist with disparity on another.",
    ),
    "spurious": (
        "Each declared probe inserts, removes or swaps an artifact on controlled copies of the "
        "inputs. The evidence is counterfactual first: how often predictions flip, compared "
        "against two nulls (the same artifact elsewhere, other content in the same place), with "
        "Wilson intervals and exact McNemar tests. Attributions (captum) then show where the "
        "model looked: the share of attribution on the artifact divided by its area share "
        "(enrichment), with a bootstrap CI; explainers are sanity-checked by randomizing the "
        "model's top layers.",
        "Attribution maps are evidence of location, not of causation. Only declared artifacts "
        "are tested: a clean result does not rule out shortcuts nobody probed. Zero attribution "
        "on a feature does not rule out reliance through a proxy.",
    ),
    "robustness": (
        "Inputs are perturbed at graded severities (noise scaled to each feature's spread for "
        "tables; ImageNet-C style corruptions for images; token drops, swaps and insertions for "
        "text), and accuracy, flip rate and accuracy relative to clean inputs are measured with "
        "Wilson intervals. Adversarial attacks (FGSM, PGD) use captum at declared radii; the "
        "minimum flipping ε is searched per example.",
        "Robust accuracy under FGSM/PGD is an upper bound: a stronger attack could do worse. "
        "Synthetic corruptions approximate, but do not reproduce, the shifts a deployed model "
        "will meet.",
    ),
    "performance": (
        "Accuracy and calibration on the audit dataset, as context for the other checks.",
        "Performance on a held-out sample says nothing about data the sample does not represent.",
    ),
}


def audit_id(result: AuditResult) -> str:
    """A short stable id: the first 12 hex digits of sha256(name, started_at, model hash).

    It names one run of one audit on one model; the same inputs give the same id, and the
    report, the ledger and `audit verify` can all quote it.
    """
    key = "\n".join((result.name, result.started_at, result.provenance.model_sha256))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def fmt(value: float | int | None) -> str:
    """Numbers as a reader wants them: counts whole, rates to three decimals."""
    if value is None:
        return "—"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"


def fmt_cell(value: float) -> str:
    """A compact feature value for narrow table columns: integers whole, others short."""
    if float(value).is_integer():
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def fmt_ci(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"{fmt(low)}–{fmt(high)}"


def clip(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """Shorten very long strings for table cells; findings.json keeps the full text."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def svg_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class Cell:
    text: str
    cls: str = ""


@dataclass(frozen=True)
class Table:
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    omitted: int = 0  # rows not shown (the full list is in findings.json)
    cls: str = ""
    column_cls: tuple[str, ...] = ()  # "num" right-aligns a header over numbers


@dataclass(frozen=True)
class Figure:
    uri: str
    alt: str
    caption: str
    cls: str = ""  # "grid": an image grid drawn at full text width


@dataclass
class CheckSection:
    check: str
    title: str
    state: str
    state_message: str
    empty_message: str = ""
    sentences: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    text_examples: list[dict[str, Any]] = field(default_factory=list)
    evidence_error: str = ""  # evidence that could not be drawn; the numbers still are


def _table(caption: str, columns: Sequence[str], rows: Iterable[Sequence[Cell]], **kw) -> Table:
    rows = [tuple(r) for r in rows]
    numeric = tuple("num" if rows and "num" in rows[0][i].cls else "" for i in range(len(columns)))
    return Table(
        caption=caption,
        columns=tuple(columns),
        column_cls=numeric,
        rows=tuple(rows[:MAX_TABLE_ROWS]),
        omitted=max(0, len(rows) - MAX_TABLE_ROWS),
        **kw,
    )


def _figure(svg: str, alt: str, caption: str, cls: str = "") -> Figure:
    return Figure(uri=svg_uri(svg), alt=clip(alt, 300), caption=caption, cls=cls)


def _value_ci(m: Metric | None) -> str:
    if m is None:
        return "—"
    ci = "" if m.ci_low is None else f" ({fmt_ci(m.ci_low, m.ci_high)})"
    return fmt(m.value) + ci


def _threshold_lines(findings: Iterable[Finding], check: str, name: str) -> list[plots.Line]:
    """The distinct policy thresholds on one metric, labelled with their rule ids."""
    seen: dict[float, list[str]] = defaultdict(list)
    ops: dict[float, str] = {}
    for f in findings:
        if f.check == check and f.metric_name == name and f.status != Status.SKIPPED:
            if f.rule not in seen[f.threshold.value]:
                seen[f.threshold.value].append(f.rule)
            ops[f.threshold.value] = f.threshold.op
    return [
        plots.Line(v, f"policy {ops[v]} {v:g} ({', '.join(rules)})")
        for v, rules in sorted(seen.items())
    ]


def _policy_defaults(result: AuditResult) -> dict[str, Any]:
    try:
        data = yaml.safe_load(result.policy.text) if result.policy.text else None
    except yaml.YAMLError:
        return {}
    defaults = data.get("defaults") if isinstance(data, dict) else None
    return defaults if isinstance(defaults, dict) else {}


def _metrics_table(metrics: Sequence[Metric], caption: str) -> Table:
    rows = [
        (
            Cell(clip(m.subject)),
            Cell(m.name),
            Cell(fmt(m.value), "num"),
            Cell(fmt_ci(m.ci_low, m.ci_high), "num"),
            Cell(fmt(m.n), "num"),
        )
        for m in metrics
    ]
    return _table(caption, ("Subject", "Metric", "Value", "CI", "n"), rows, cls="metrics")


# --- bias ------------------------------------------------------------------------------


def _bias(section: CheckSection, result: AuditResult, min_group: int | None) -> None:
    metrics = [m for m in result.metrics if m.check == "bias"]
    per_group: dict[tuple[str, str | None], dict[str, dict[str, Metric]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for m in metrics:
        if m.group is not None:
            per_group[(m.feature or "", m.method)][m.group][m.name] = m
    for (feature, method), groups in per_group.items():
        label = feature + (f" ({method})" if method else "")
        present = [(k, t) for k, t in GROUP_METRICS if any(k in g for g in groups.values())]
        rows = []
        for group, by_name in groups.items():
            n = next((m.n for m in by_name.values() if m.n is not None), None)
            if n is None and "count" in by_name:
                n = int(by_name["count"].value)
            small = min_group is not None and n is not None and n < min_group
            rows.append(
                (
                    Cell(clip(group), "small" if small else ""),
                    Cell(fmt(n) + (" (too small)" if small else ""), "num"),
                    *(Cell(_value_ci(by_name.get(k)), "num") for k, _ in present),
                )
            )
        section.tables.append(
            _table(
                f"Per-group metrics for {label}, with 95% confidence intervals",
                ("Group", "n", *(t for _, t in present)),
                rows,
                cls="groups",
            )
        )
        if any("impact_ratio" in g for g in groups.values()):
            ll144 = [
                (
                    Cell(clip(group)),
                    Cell(fmt(next((m.n for m in g.values() if m.n is not None), None)), "num"),
                    Cell(_value_ci(g.get("selection_rate")), "num"),
                    Cell(_value_ci(g.get("impact_ratio")), "num"),
                )
                for group, g in groups.items()
            ]
            section.tables.append(
                _table(
                    f"Impact ratios for {label} (NYC Local Law 144 layout): each group's "
                    "selection rate divided by the most-selected group's",
                    ("Category", "Number of applicants", "Selection rate", "Impact ratio"),
                    ll144,
                    cls="ll144",
                )
            )
    aggregates = [m for m in metrics if m.group is None and m.name in AGGREGATES]
    for name in AGGREGATES:
        items = [m for m in aggregates if m.name == name]
        if not items:
            continue
        intervals = [
            plots.Interval(
                (m.feature or "overall") + (f" ({m.method})" if m.method else ""),
                m.value,
                m.ci_low,
                m.ci_high,
            )
            for m in items
        ]
        lines = _threshold_lines(result.findings, "bias", name)
        title = name.replace("_", " ").capitalize()
        section.figures.append(
            _figure(
                plots.forest(intervals, lines, xlabel=name, title=title),
                f"Forest plot of {name} per sensitive feature with confidence intervals",
                f"{title} per sensitive feature: point estimate and bootstrap CI; dashed lines "
                "are policy thresholds.",
            )
        )
    if aggregates:
        section.tables.append(_metrics_table(aggregates, "Aggregate fairness metrics"))
    section.sentences.extend(_strings(result.evidence.get("bias", {}).get("sentences")))


# --- robustness ------------------------------------------------------------------------


def _robustness(section: CheckSection, result: AuditResult) -> None:
    metrics = [m for m in result.metrics if m.check == "robustness"]
    for name, label in SEVERITY_CURVES:
        graded = [m for m in metrics if m.name == name and m.severity is not None]
        if not graded:
            continue
        families: dict[str, list[Metric]] = defaultdict(list)
        for m in graded:
            families[m.perturbation or "?"].append(m)
        series = []
        for family, ms in sorted(families.items()):
            ms = sorted(ms, key=lambda m: m.severity or 0)
            has_ci = all(m.ci_low is not None for m in ms)
            series.append(
                plots.Series(
                    family,
                    tuple(float(m.severity or 0) for m in ms),
                    tuple(m.value for m in ms),
                    tuple(m.ci_low or 0.0 for m in ms) if has_ci else None,
                    tuple(m.ci_high or 0.0 for m in ms) if has_ci else None,
                )
            )
        section.figures.append(
            _figure(
                plots.curves(
                    series,
                    _threshold_lines(result.findings, "robustness", name),
                    xlabel="severity",
                    ylabel=name,
                    title=f"{label} by severity, per perturbation family",
                    xticks=range(1, 6),
                ),
                f"{label} against severity for each perturbation family",
                f"{label} against severity (1 = mildest, 5 = harshest); bands are 95% Wilson "
                "intervals, dashed lines policy thresholds.",
            )
        )
    ev = result.evidence.get("robustness", {})
    curve = ev.get("epsilon_curve")
    if curve and len(curve.get("epsilon", ())) > 0:
        norm = str(curve.get("norm", ""))
        s = plots.Series(
            "robust accuracy",
            tuple(float(e) for e in curve["epsilon"]),
            tuple(float(a) for a in curve["accuracy"]),
        )
        section.figures.append(
            _figure(
                plots.curves(
                    [s],
                    [],
                    xlabel=f"ε ({norm})",
                    ylabel="accuracy",
                    title=f"Adversarial accuracy against ε ({norm})",
                ),
                "Accuracy under adversarial attack against perturbation radius",
                "Accuracy under attack at each radius ε. Attacks can only show weakness, so "
                "this is an upper bound on the true robust accuracy.",
            )
        )
    images = list(ev.get("flipped_images", ()))[:MAX_EXAMPLES]
    if images:
        pairs = [
            plots.ImagePair(
                np.asarray(e["before"]),
                np.asarray(e["after"]),
                f"pred {e['pred']}",
                f"{e['perturbation']}@{e['severity']} → {e['pred_after']}",
            )
            for e in images
        ]
        section.figures.append(
            _figure(
                plots.image_grid(pairs),
                "Original and perturbed images whose predicted class changed",
                "Each pair: the original input and its perturbed copy, with both predictions.",
                cls="grid",
            )
        )
    flipped = ev.get("flipped_rows")
    if flipped and flipped.get("rows"):
        columns = [str(c) for c in flipped["columns"]]
        rows = []
        for r in flipped["rows"]:
            before, after = list(r["before"]), list(r["after"])
            rows.append(
                (
                    Cell(f"{r['perturbation']}@{r['severity']}"),
                    Cell(f"{r['pred']} → {r['pred_after']}", "num"),
                    *(
                        Cell(
                            fmt_cell(a) if a == b else f"{fmt_cell(b)} → {fmt_cell(a)}",
                            "num" if a == b else "num changed",
                        )
                        for b, a in zip(before, after, strict=True)
                    ),
                )
            )
        section.tables.append(
            _table(
                "Tabular rows whose prediction flipped (changed cells are marked)",
                ("Perturbation", "Prediction", *(clip(c, 40) for c in columns)),
                rows,
                cls="flipped",
            )
        )
    graded = {(m.perturbation, m.severity) for m in metrics if m.severity is not None}
    if graded:
        section.tables.append(_severity_table(metrics, sorted(graded, key=str)))
    other = [m for m in metrics if m.severity is None]
    if other:
        section.tables.append(
            _metrics_table(other, "Adversarial and other robustness measurements")
        )


def _severity_table(metrics: Sequence[Metric], keys: Sequence[tuple[Any, Any]]) -> Table:
    """One row per family and severity, the graded metrics side by side."""
    by_key = {(m.perturbation, m.severity, m.name): m for m in metrics if m.severity is not None}
    rows = []
    for family, severity in keys:
        found = [by_key.get((family, severity, name)) for name, _ in SEVERITY_CURVES]
        n = next((m.n for m in found if m is not None and m.n is not None), None)
        rows.append(
            (
                Cell(f"{family}"),
                Cell(str(severity), "num"),
                *(Cell(_value_ci(m), "num") for m in found),
                Cell(fmt(n), "num"),
            )
        )
    return _table(
        "Graded perturbations: each family at each severity, with 95% confidence intervals",
        ("Family", "Severity", *(label for _, label in SEVERITY_CURVES), "n"),
        rows,
        cls="severity",
    )


# --- spurious --------------------------------------------------------------------------


def _spurious(section: CheckSection, result: AuditResult) -> None:
    metrics = [m for m in result.metrics if m.check == "spurious"]
    ev = result.evidence.get("spurious", {})
    examples = list(ev.get("examples", ()))
    image_ex = [e for e in examples if e.get("kind") == "image"][:MAX_EXAMPLES]
    if image_ex:
        pairs = [
            plots.ImagePair(
                np.asarray(e["image"]),
                np.asarray(e["attribution"]),
                f"pred {e['pred']}",
                f"attribution → {e['pred_after']}",
                region=tuple(int(v) for v in e["region"]),
                right_is_attribution=True,
            )
            for e in image_ex
        ]
        section.figures.append(
            _figure(
                plots.image_grid(pairs),
                "Grid of inputs beside attribution heatmaps with the artifact region outlined",
                "Each pair: an input with its prediction, and the magnitude of its attribution "
                "(brighter = more) with the prediction once the artifact is inserted; the probed "
                "artifact is outlined. Attribution shows where, not why. Probes: "
                + ", ".join(sorted({str(e["probe"]) for e in image_ex}))
                + ".",
                cls="grid",
            )
        )
    for e in [e for e in examples if e.get("kind") == "text"][:MAX_EXAMPLES]:
        attr = np.abs(np.asarray(e["attribution"], dtype=float))
        top = float(attr.max()) if attr.size and attr.max() > 0 else 1.0
        marked = set(e.get("marked", ()))
        section.text_examples.append(
            {
                "probe": e["probe"],
                "pred": e["pred"],
                "pred_after": e["pred_after"],
                "tokens": [
                    {
                        "text": clip(str(tok), 40),
                        "style": f"background-color: rgba(230, 159, 0, {a / top:.2f})",
                        "marked": i in marked,
                    }
                    for i, (tok, a) in enumerate(zip(e["tokens"], attr, strict=True))
                ],
            }
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
                _figure(
                    plots.bars(items, lines, ylabel="flip rate", title=f"Flip rate: {probe}"),
                    f"Flip rates of probe {probe} and its nulls with confidence intervals",
                    f"Probe {probe}: share of predictions that flip, for the artifact (colour) "
                    "and its nulls (grey), with 95% Wilson intervals.",
                )
            )
    enrich = [m for m in metrics if m.name in ENRICHMENT_NAMES]
    if enrich:
        items = [plots.Interval(m.probe or m.subject, m.value, m.ci_low, m.ci_high) for m in enrich]
        section.figures.append(
            _figure(
                plots.bars(
                    items,
                    [plots.Line(1.0, "no enrichment (E = 1)")],
                    ylabel="enrichment E = ρ / a",
                    title="Attribution enrichment",
                ),
                "Attribution enrichment on each probe's artifact with confidence intervals",
                "Share of attribution on the artifact divided by its share of the input; 1 means "
                "no more attention than its size predicts. Bootstrap 95% CIs.",
            )
        )
    importance = list(ev.get("importance", ()))
    if importance:
        importance = sorted(importance, key=lambda r: -float(r["share"]))[:25]
        shadow = [r for r in importance if r["feature"] == "(shadow)"]
        items = [
            plots.Interval(
                str(r["feature"]),
                float(r["share"]),
                r.get("ci_low"),
                r.get("ci_high"),
                muted=r["feature"] == "(shadow)",
            )
            for r in importance
        ]
        lines = [plots.Line(float(shadow[0]["share"]), "shadow feature")] if shadow else []
        section.figures.append(
            _figure(
                plots.hbars(
                    items, lines, xlabel="share of attribution", title="Global feature importance"
                ),
                "Global feature importance with confidence intervals",
                "Each feature's share of total attribution, with bootstrap 95% CIs. The shadow "
                "feature is a shuffled copy: features below it carry no more signal than noise.",
            )
        )
    if not probes:
        section.sentences.append(
            "No spurious-feature probes were declared, so no reliance was judged."
        )
    section.sentences.extend(_strings(ev.get("sentences")))
    if metrics:
        section.tables.append(_metrics_table(metrics, "All spurious-feature measurements"))


def _strings(items: Any) -> list[str]:
    return [str(s) for s in items] if isinstance(items, list | tuple) else []


# --- the whole report ------------------------------------------------------------------


def _sections(result: AuditResult) -> list[CheckSection]:
    runs = {r.check: r for r in result.check_runs}
    present = {m.check for m in result.metrics} | set(runs)
    min_group = _policy_defaults(result).get("min_group_size")
    out = []
    for check in CHECK_NAMES:
        if check not in present:
            continue
        run = runs.get(check)
        state = run.state if run else "ran"
        section = CheckSection(
            check=check,
            title=CHECK_TITLES[check],
            state=state,
            state_message=run.message if run else "",
        )
        if not any(m.check == check for m in result.metrics):
            section.empty_message = {
                "skipped": "This check was switched off in the spec; it measured nothing.",
                "error": "This check failed before it could measure anything; see the error "
                "below. Its rules are reported as errors, never as passes.",
            }.get(state, "This check ran but produced no measurements.")
        try:
            if check == "bias":
                _bias(section, result, min_group if isinstance(min_group, int) else None)
            elif check == "robustness":
                _robustness(section, result)
            elif check == "spurious":
                _spurious(section, result)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            # Malformed evidence must not sink the report: say so, and still list every number.
            section.evidence_error = EVIDENCE_ERROR.format(error=f"{type(exc).__name__}: {exc}")
            section.figures.clear()
            section.tables.clear()
            section.text_examples.clear()
        if check == "performance" or section.evidence_error:
            metrics = [m for m in result.metrics if m.check == check]
            if metrics:
                section.tables.append(_metrics_table(metrics, f"{section.title} measurements"))
        out.append(section)
    return out


def _finding_row(f: Finding) -> dict[str, Any]:
    waiver = ""
    if f.waiver is not None:
        w = f.waiver
        waiver = (
            f"Waived by {w.approver} until {w.expires}"
            + (" (EXPIRED)" if w.expired else "")
            + f": {w.justification}"
        )
    return {
        "rule": f.rule,
        "check": f.check,
        "subject": clip(f.metric.subject) if f.metric else "—",
        "metric": f.metric_name,
        "value": fmt(f.metric.value) if f.metric else "—",
        "ci": fmt_ci(f.metric.ci_low, f.metric.ci_high) if f.metric else "—",
        "threshold": str(f.threshold),
        "status": STATUS_LABELS[f.status],
        "status_cls": f"status-{f.status.value}",
        "message": clip(f.message, 600),
        "waiver": clip(waiver, 600),
    }


def _findings_by_severity(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    groups = []
    for sev in sorted(Severity, key=lambda s: -s.rank):
        fs = sorted(
            (f for f in findings if f.severity == sev), key=lambda f: (rank[f.status], f.rule)
        )
        if fs:
            groups.append({"label": sev.value.capitalize(), "rows": [_finding_row(f) for f in fs]})
    return groups


def methodology(result: AuditResult, checks: Iterable[str]) -> list[dict[str, str]]:
    """What each check measured and what its numbers cannot tell, with policy values filled in."""
    min_group = _policy_defaults(result).get("min_group_size", "set by the policy")
    return [
        {
            "check": c,
            "title": CHECK_TITLES[c],
            "what": METHODS[c][0],
            "limits": METHODS[c][1].format(min_group_size=min_group),
        }
        for c in checks
    ]


def _switched_off(result: AuditResult, policy: str) -> str:
    """One sentence naming the checks the spec switched off, and whether the policy allowed it
    (the judge errors on a required check that did not run, and skips an optional one)."""
    off = [r.check for r in result.check_runs if r.state == "skipped"]
    required = {f.check for f in result.findings if f.check in off and f.status == Status.ERROR}
    allowed = [c for c in off if c not in required]
    parts = []
    if allowed:
        parts.append(
            f"Switched off in the spec, as the {policy} allows: {', '.join(allowed)}; "
            "their rules were not judged."
        )
    if required:
        parts.append(
            f"Switched off in the spec although the {policy} requires them: "
            f"{', '.join(c for c in off if c in required)}; the audit is incomplete."
        )
    return " ".join(parts)


def summary(result: AuditResult, model: str) -> dict[str, Any]:
    counts = Counter(f.status for f in result.findings)
    count_rows = [
        {"status": STATUS_LABELS[s], "cls": f"status-{s.value}", "n": counts[s]}
        for s in STATUS_ORDER
        if counts[s]
    ]
    problems = sorted(
        (f for f in result.findings if f.status in PROBLEM_STATUSES),
        key=lambda f: (-f.severity.rank, PROBLEM_STATUSES.index(f.status), f.rule),
    )
    blocking = sum(
        1
        for f in result.findings
        if f.severity == Severity.BLOCKER
        and f.status in PROBLEM_STATUSES
        and f.status != Status.WARN
    )
    policy = f"policy “{result.policy.name}” version {result.policy.version}"
    n = len(result.findings)
    if result.verdict == Verdict.PASS:
        outcome = (
            f"passed: every blocking rule of the {policy} was evaluated and met"
            + (f", though {len(problems)} finding(s) deserve attention" if problems else "")
            + "."
        )
    elif result.verdict == Verdict.FAIL:
        outcome = (
            f"failed: {blocking} blocking finding(s) under the {policy} were not met, so the "
            "release is blocked."
        )
    else:
        outcome = (
            f"could not be completed under the {policy}: a check crashed or evidence was "
            "missing, so no pass can be given."
        )
    errors = [r for r in result.check_runs if r.state == "error"]
    paragraph = (
        f"The audit of {model} {outcome} {n} rule judgement(s) were made across "
        f"{len({f.check for f in result.findings})} check(s)."
        + (f" {len(errors)} check(s) raised an error." if errors else "")
    )
    return {
        "paragraph": paragraph,
        "switched_off": _switched_off(result, policy),
        "counts": count_rows,
        "top": [
            {
                "rule": f.rule,
                "severity": f.severity.value,
                "status": STATUS_LABELS[f.status],
                "status_cls": f"status-{f.status.value}",
                "sentence": clip(f.message, 600),
                "rationale": f.rationale,
            }
            for f in problems[:TOP_FAILURES]
        ],
        "more": max(0, len(problems) - TOP_FAILURES),
    }


def _pairs(mapping: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), clip(str(v), 400)) for k, v in mapping.items()]


def _history(evidence: Mapping[str, Any]) -> dict[str, list[str]] | None:
    history = evidence.get("history")
    if not isinstance(history, Mapping):
        return None

    def text(item: Any) -> str:
        if isinstance(item, Mapping):
            return clip(", ".join(f"{k}: {v}" for k, v in item.items()), 400)
        return clip(str(item), 400)

    return {k: [text(i) for i in history.get(k, ())] for k in ("changed", "new_failures", "fixed")}


def build_context(result: AuditResult, *, signer: str) -> dict[str, Any]:
    """The template's whole view model; nothing in the templates computes."""
    model = str(result.model_info.get("name") or result.name)
    version = result.model_info.get("version")
    aid = audit_id(result)
    defaults = _policy_defaults(result)
    verdict = result.verdict.value
    sections = _sections(result)
    return {
        "audit_id": aid,
        "title": f"Audit report: {model}",
        "model": model,
        "model_version": str(version) if version is not None else "",
        "audit_date": result.started_at[:10],
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "policy_name": result.policy.name,
        "policy_version": result.policy.version,
        "signer": signer,
        "verdict": verdict,
        "verdict_text": VERDICT_TEXT[result.verdict],
        "keywords": (
            f"audit-verdict={verdict}; audit-id={aid}; "
            f"model-sha256={result.provenance.model_sha256}"
        ),
        "description": (
            f"Trust-and-safety audit of {model} under policy {result.policy.name} "
            f"{result.policy.version}: verdict {verdict}."
        ),
        "summary": summary(result, model),
        "findings_groups": _findings_by_severity(result.findings),
        "check_runs": [
            {
                "check": r.check,
                "state": r.state,
                "cls": f"state-{r.state}",
                "seconds": f"{r.seconds:.1f}",
                "message": clip(r.message, 1000),
            }
            for r in result.check_runs
        ],
        "sections": sections,
        "methodology": methodology(result, [s.check for s in sections]),
        "confidence_pct": f"{100 * float(defaults.get('confidence', 0.95)):g}",
        "provenance": [
            ("Audit id", aid),
            ("Audit name", result.name),
            ("Started", result.started_at),
            ("Finished", result.finished_at),
            ("Model sha256", result.provenance.model_sha256),
            ("Data sha256", result.provenance.data_sha256),
            ("Spec sha256", result.provenance.spec_sha256),
            ("Policy sha256", result.provenance.policy_sha256),
            ("Seed", str(result.provenance.seed)),
        ],
        "versions": _pairs(result.provenance.versions),
        "model_info": _pairs(result.model_info),
        "data_info": _pairs(result.data_info),
        "spec_text": result.spec_text,
        "policy_text": result.policy.text,
        "history": _history(result.evidence),
    }
