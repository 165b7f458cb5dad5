"""One probe, measured: counterfactual flips against the nulls, then attribution evidence.

Metric names (all `check="spurious"`, `probe=probe_name(probe)`):
- `flip_rate` per variant (`perturbation`: insert, remove, permute, swap, reference,
  location_null, content_null, remove_location_null), Wilson CI;
- `flip_rate_excess` per artifact variant: its flip rate minus the smaller applicable null's,
  paired bootstrap CI (the null is exactly 0 for tabular features);
- `mcnemar_p` (`perturbation`: `<artifact>_vs_<null>`), exact, on the paired flips;
- `spurious_score`, `flip_to_target_rate` (insert and its nulls), `spurious_score_excess`
  (insert minus the smaller null, over inputs not already predicted as the target),
  `mean_abs_delta_p`;
- image/text attribution (`method` set): `attribution_mass_ratio`, `area_share`,
  `attribution_enrichment` (and `perturbation=location_null` for the moved-mask null),
  `attribution_enrichment_gain`, `relevance_rank_accuracy`, `attribution_wilcoxon_p`,
  `attribution_permutation_p`;
- tabular: `attribution_share` of the feature and of its shadow, `shadow_share_excess`,
  `attribution_share_p`, `proxy_auc`.

On a ViT the image attribution metrics are measured again on attention-rollout maps, with
`method: attention_rollout`, into `ProbeResult.supporting`: evidence for the report, not
metrics the policy judges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audit.checks.spurious import detect, probes, rollout
from audit.checks.spurious.context import (
    SHADOW,
    ProbeSample,
    example,
    tabular_attributions,
    word_example,
)
from audit.checks.spurious.evidence import Example
from audit.checks.spurious.phrases import phrase_variants
from audit.checks.spurious.spec import (
    FeatureProbe,
    PatchProbe,
    PhraseProbe,
    SpuriousSpec,
    TokenProbe,
    probe_name,
)
from audit.errors import SpecError
from audit.records import Metric

_NULL_WORDS = {
    "location_null": ("the same artifact elsewhere", "relies on the region"),
    "content_null": ("other content in the same place", "relies on the pattern"),
    "remove_location_null": ("the same replacement elsewhere", "relies on the region"),
    "swap_location_null": ("the same replacement elsewhere", "relies on the region"),
}
# a phrase probe's nulls, in words a reviewer of text reads
_PHRASE_NULL_WORDS = {
    "location_null": ("the phrase at another place in the text", "relies on where it sits"),
    "content_null": ("other words of the same length in its place", "relies on the phrase"),
    "remove_location_null": ("removing other words instead", "relies on the phrase"),
    "swap_location_null": ("replacing other words instead", "relies on the phrase"),
}


@dataclass
class ProbeResult:
    metrics: list[Metric] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    sentence: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    # a ViT's attention rollout: the same statistics, supporting evidence (never judged)
    supporting: list[Metric] = field(default_factory=list)
    rollout_examples: list[Example] = field(default_factory=list)


def _variants(sample: ProbeSample, cfg: SpuriousSpec, probe: Any) -> probes.Variants:
    if isinstance(probe, PhraseProbe):
        if sample.texts is None or sample.encoder is None:
            raise SpecError(
                "a phrase probe edits raw text, but this data is token ids (.npz).",
                where=f"checks.spurious.probes ({probe_name(probe)})",
                fix="give the texts (`data.text` naming a column of a CSV, Parquet or JSONL "
                "file), or probe token ids with `type: token`.",
            )
        return phrase_variants(probe, sample.encoder, list(sample.texts), sample.rng)
    if isinstance(probe, TokenProbe) and sample.texts is not None:
        raise SpecError(
            "a token probe inserts ids, but this data is raw text: ids inserted into an "
            "encoding could land beside [CLS] or [SEP] and split words.",
            where=f"checks.spurious.probes ({probe_name(probe)})",
            fix="probe the words instead: `{type: phrase, text: ...}`.",
        )
    if isinstance(probe, PatchProbe):
        return probes.image_variants(probe, sample.x, cfg.location_nulls, sample.rng)
    if isinstance(probe, TokenProbe):
        return probes.text_variants(probe, sample.x, sample.pad_id, sample.rng)
    return probes.feature_variants(probe, sample.x, sample.feature_names, sample.rng)


def _null_label(artifact: str, null: str) -> str:
    return null if artifact == "insert" else f"{artifact}_{null}"


def measure_probe(sample: ProbeSample, cfg: SpuriousSpec, probe: Any) -> ProbeResult:
    """Every counterfactual and attribution measurement of one probe."""
    name = probe_name(probe)
    sample = sample.for_probe(name)
    variants = _variants(sample, cfg, probe)
    out = ProbeResult(summary={"probe": name, "flip_rates": [], "excess": {}, "enrichment": None})
    if not variants.artifacts:
        out.sentence = (
            f"Probe {name}: every sampled input already carries the artifact and too few "
            "carry it for a removal test, so nothing could be measured."
        )
        return out
    metric = _metric_maker(name)
    preds = {a: sample.predict(v.x) for a, v in variants.artifacts.items()}
    target = _target(sample, variants, preds, probe.target)
    out.summary["target"] = target
    for art, v in variants.artifacts.items():
        before_p, before = sample.proba[v.rows], sample.pred[v.rows]
        idx = sample.boot(len(v.rows))
        scored = not isinstance(probe, FeatureProbe) and art == "insert"
        flips, p_target = _flip_metrics(
            out, metric, art, before_p, before, *preds[art], target, scored, idx, sample
        )
        null_flips, null_p_target = {}, {}
        for null, nv in variants.nulls.get(art, {}).items():
            label = _null_label(art, null)
            null_flips[label], null_p_target[label] = _flip_metrics(
                out,
                metric,
                label,
                before_p,
                before,
                *sample.predict(nv.x),
                target,
                scored,
                idx,
                sample,
            )
            out.metrics.append(
                metric(
                    "mcnemar_p",
                    detect.mcnemar_paired(flips, null_flips[label]),
                    f"{art}_vs_{label}",
                    n=len(flips),
                )
            )
        others = before != target
        if scored and art == "insert" and null_p_target and others.sum() > 0:
            ss = detect.flip_excess(
                p_target[others],
                {k: v[others] for k, v in null_p_target.items()},
                idx=sample.boot(int(others.sum())),
                confidence=sample.confidence,
            )
            out.metrics.append(
                metric("spurious_score_excess", ss.value, art, ci=(ss.ci_low, ss.ci_high), n=ss.n)
            )
        ex = detect.flip_excess(flips, null_flips, idx=idx, confidence=sample.confidence)
        out.metrics.append(
            metric("flip_rate_excess", ex.value, art, ci=(ex.ci_low, ex.ci_high), n=ex.n)
        )
        out.summary["excess"][art] = {
            "value": ex.value,
            "ci_low": ex.ci_low,
            "ci_high": ex.ci_high,
            "beaten": ex.beaten,
        }
    if isinstance(probe, FeatureProbe):
        _feature_attribution(out, metric, sample, probe)
    else:
        _mask_attribution(out, metric, sample, cfg, probe, variants, preds, target)
    out.sentence = _sentence(name, probe, out.summary, sample.confidence)
    return out


def _metric_maker(probe: str) -> Any:
    def make(
        name: str,
        value: float,
        perturbation: str | None = None,
        *,
        ci: tuple[float, float] | None = None,
        n: int | None = None,
        method: str | None = None,
        feature: str | None = None,
    ) -> Metric:
        return Metric(
            check="spurious",
            name=name,
            value=float(value),
            probe=probe,
            perturbation=perturbation,
            feature=feature,
            method=method,
            ci_low=None if ci is None else float(ci[0]),
            ci_high=None if ci is None else float(ci[1]),
            n=n,
        )

    return make


def _target(
    sample: ProbeSample, variants: probes.Variants, preds: dict[str, Any], declared: int | None
) -> int:
    """The class the artifact pushes towards: declared, or the largest mean probability gain."""
    if declared is not None:
        return declared
    art, v = next(iter(variants.artifacts.items()))
    shift = (preds[art][0] - sample.proba[v.rows]).mean(axis=0)
    if art == "remove":
        shift = -shift
    return int(np.argmax(shift))


def _flip_metrics(
    out: ProbeResult,
    metric: Any,
    label: str,
    before_p: np.ndarray,
    before: np.ndarray,
    after_p: np.ndarray,
    after: np.ndarray,
    target: int,
    scored: bool,
    idx: np.ndarray,
    sample: ProbeSample,
) -> tuple[np.ndarray, np.ndarray]:
    flips = after != before
    r = detect.rate(flips, sample.confidence)
    out.metrics.append(metric("flip_rate", r.value, label, ci=(r.ci_low, r.ci_high), n=r.n))
    out.summary["flip_rates"].append(
        {
            "perturbation": label,
            "value": r.value,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "null": "null" in label,
        }
    )
    tv = 0.5 * np.abs(after_p - before_p).sum(axis=1)
    out.metrics.append(
        metric(
            "mean_abs_delta_p",
            tv.mean(),
            label,
            ci=detect.mean_ci(tv, idx, sample.confidence),
            n=len(tv),
        )
    )
    others = before != target
    if scored and others.sum() > 0:
        pc = after_p[others, target]
        sub = detect.boot_indices(len(pc), sample.n_boot, sample.rng)
        out.metrics.append(
            metric(
                "spurious_score",
                pc.mean(),
                label,
                ci=detect.mean_ci(pc, sub, sample.confidence),
                n=len(pc),
            )
        )
        to_c = detect.rate(after[others] == target, sample.confidence)
        out.metrics.append(
            metric(
                "flip_to_target_rate", to_c.value, label, ci=(to_c.ci_low, to_c.ci_high), n=to_c.n
            )
        )
    return flips, after_p[:, target]


def _text_null_masks(
    valid: np.ndarray, mask: np.ndarray, k: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """k masks of the same size per row, on random other non-pad positions."""
    size = mask.sum(axis=1)
    out = []
    for _ in range(k):
        keys = np.where(valid & ~mask, rng.random(mask.shape), np.inf)
        order = np.argsort(keys, axis=1)
        ranks = np.argsort(order, axis=1)
        out.append((ranks < size[:, None]) & np.isfinite(keys))
    return out


def _mask_attribution(
    out: ProbeResult,
    metric: Any,
    sample: ProbeSample,
    cfg: SpuriousSpec,
    probe: PatchProbe | TokenProbe | PhraseProbe,
    variants: probes.Variants,
    preds: dict[str, Any],
    target: int,
) -> None:
    """Enrichment of attribution on the inserted artifact, with its nulls and sanity gain;
    on a ViT the same statistics of its attention rollout, as supporting evidence."""
    v = variants.artifacts.get("insert")
    if v is None or v.mask is None:
        return
    method = sample.method_cfg.method
    tgt = np.full(len(v.rows), target)
    attr = sample.attribute(v.x, tgt).values
    attr_r = sample.attribute(v.x, tgt, random=True).values
    maps, maps_r = sample.maps(attr), sample.maps(attr_r)
    if sample.modality == "text":
        valid = sample.valid(v.x, v.word_ids)
        null_masks = _text_null_masks(valid, v.mask, cfg.location_nulls, sample.rng)
    else:
        valid = np.ones_like(v.mask, dtype=bool)
        null_masks = variants.null_masks
    idx = sample.boot(len(v.rows))
    mask = np.asarray(v.mask)
    stats = _Maps(mask, valid, null_masks, idx, sample.confidence)
    e, gain, made = stats.measure(metric, method, maps, maps_r)
    out.metrics += made
    out.summary["enrichment"] = {
        "value": e.value,
        "ci_low": e.ci_low,
        "ci_high": e.ci_high,
        "null_value": None if not null_masks else e.null_value,
        "gain": gain[0],
        "method": method,
    }
    after = preds["insert"][1]
    before = sample.pred[v.rows]
    order = np.argsort(~(after != before), kind="stable")[: cfg.examples]
    vocab = probes.read_vocab(cfg.vocab) if sample.modality == "text" else None
    region = probe.pixels(*sample.x.shape[-2:]) if isinstance(probe, PatchProbe) else None
    for i in order:
        if v.texts is not None and v.word_ids is not None:
            out.examples.append(
                word_example(
                    sample,
                    probe_name(probe),
                    v.texts[i],
                    v.word_ids[i],
                    attr[i],
                    v.marked[i],
                    int(before[i]),
                    int(after[i]),
                )
            )
            continue
        marked = np.flatnonzero(mask[i]).tolist() if sample.modality == "text" else None
        out.examples.append(
            example(
                sample,
                probe_name(probe),
                v.x[i],
                attr[i],
                region,
                marked,
                int(before[i]),
                int(after[i]),
                vocab,
            )
        )
    if sample.grid is None:
        return
    # the same rows, masks, nulls and bootstrap resamples: no draw from the probe's stream
    rolled, rolled_r = sample.rollout_maps(v.x), sample.rollout_maps(v.x, random=True)
    _, _, made = stats.measure(metric, rollout.METHOD, rolled, rolled_r)
    out.supporting += made
    side = sample.x.shape[-2:]
    out.rollout_examples += [
        example(
            sample,
            probe_name(probe),
            v.x[i],
            rolled[i].reshape(1, *side),
            region,
            None,
            int(before[i]),
            int(after[i]),
        )
        for i in order
    ]


@dataclass(frozen=True)
class _Maps:
    """One probe's artifact masks, nulls and bootstrap resamples, shared by every kind of
    map (gradient attributions, attention rollout) so that their numbers are comparable."""

    mask: np.ndarray
    valid: np.ndarray
    null_masks: list[np.ndarray]
    idx: np.ndarray
    confidence: float

    def measure(
        self, metric: Any, method: str, maps: np.ndarray, maps_r: np.ndarray
    ) -> tuple[detect.Enrichment, tuple[float, float, float], list[Metric]]:
        """Enrichment against the location null, and the gain over the randomized model's
        maps, as metrics carrying `method`."""
        e = detect.enrichment(
            maps, self.mask, self.valid, self.null_masks, idx=self.idx, confidence=self.confidence
        )
        n = len(maps)
        made = [
            metric("attribution_mass_ratio", e.rho, "insert", n=n, method=method),
            metric("area_share", e.area, "insert", n=n, method=method),
            metric(
                "attribution_enrichment",
                e.value,
                "insert",
                ci=(e.ci_low, e.ci_high),
                n=n,
                method=method,
            ),
            metric("relevance_rank_accuracy", e.rank_accuracy, "insert", n=n, method=method),
            metric("attribution_wilcoxon_p", e.wilcoxon_p, "insert", n=n, method=method),
        ]
        if self.null_masks:
            made += [
                metric("attribution_enrichment", e.null_value, "location_null", n=n, method=method),
                metric("attribution_permutation_p", e.permutation_p, "insert", n=n, method=method),
            ]
        gain = detect.enrichment_gain(
            maps, maps_r, self.mask, self.valid, idx=self.idx, confidence=self.confidence
        )
        made.append(
            metric(
                "attribution_enrichment_gain", gain[0], "insert", ci=gain[1:], n=n, method=method
            )
        )
        return e, gain, made


def _feature_attribution(
    out: ProbeResult, metric: Any, sample: ProbeSample, probe: FeatureProbe
) -> None:
    """The feature's attribution share against a shadow copy, and how well others predict it."""
    j = probes.feature_index(probe, sample.feature_names)
    attr = tabular_attributions(sample, j)
    share, low, high = detect.attribution_shares(attr, sample.boot(len(attr)), sample.confidence)
    method = sample.method_cfg.method
    n = len(attr)
    out.metrics += [
        metric(
            "attribution_share",
            share[j],
            feature=probe.feature,
            ci=(low[j], high[j]),
            n=n,
            method=method,
        ),
        metric(
            "attribution_share",
            share[-1],
            feature=SHADOW,
            ci=(low[-1], high[-1]),
            n=n,
            method=method,
        ),
        metric(
            "attribution_share_p",
            detect.paired_greater_p(np.abs(attr[:, j]), np.abs(attr[:, -1])),
            feature=probe.feature,
            n=n,
            method=method,
        ),
    ]
    idx = sample.boot(n)
    mag = np.abs(attr)
    boot = mag[idx].mean(axis=1)
    total = np.maximum(boot.sum(axis=1), np.finfo(float).tiny)
    low_x, high_x = detect.percentile_ci((boot[:, j] - boot[:, -1]) / total, sample.confidence)
    out.metrics.append(
        metric(
            "shadow_share_excess",
            share[j] - share[-1],
            feature=probe.feature,
            ci=(low_x, high_x),
            n=n,
            method=method,
        )
    )
    auc = proxy_auc(sample.x, j, sample.seed)
    if auc is not None:
        out.metrics.append(metric("proxy_auc", auc, feature=probe.feature, n=len(sample.x)))
        out.summary["proxy_auc"] = auc
    out.summary["share"] = {"value": float(share[j]), "shadow": float(share[-1])}


def proxy_auc(x: np.ndarray, j: int, seed: int) -> float | None:
    """Cross-validated AUC of the other features predicting column j (above/below its median,
    or its two values). Zero attribution on j does not rule out reliance through a proxy."""
    col = x[:, j]
    values = np.unique(col)
    y = col == values[-1] if values.size == 2 else col > np.median(col)
    if x.shape[1] < 2 or y.sum() < 3 or (~y).sum() < 3:
        return None
    others = np.delete(x, j, axis=1)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    return float(cross_val_score(model, others, y, cv=folds, scoring="roc_auc").mean())


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def _sentence(name: str, probe: Any, summary: dict[str, Any], confidence: float) -> str:
    """One plain sentence per probe: what was done, what flipped, against which null."""
    rates = {r["perturbation"]: r for r in summary["flip_rates"]}
    main = next(iter(summary["excess"]))
    r = rates[main]
    ex = summary["excess"][main]
    feature = getattr(probe, "feature", name)
    phrase = isinstance(probe, PhraseProbe)
    null_words = _PHRASE_NULL_WORDS if phrase else _NULL_WORDS
    verb_of = {
        "insert": f"inserting “{name}” into texts without it"
        if phrase
        else "inserting the artifact",
        "remove": f"removing “{name}” from texts with it" if phrase else "removing the artifact",
        "permute": f"shuffling {feature} across rows",
        "swap": f"replacing “{name}” by ordinary words"
        if phrase
        else f"changing {feature} to another value",
        "reference": f"setting {feature} to its median",
    }
    verb = verb_of[main]
    text = (
        f"Probe {name}: {verb} changed {_pct(r['value'])} of predictions "
        f"({_pct(confidence)} CI {_pct(r['ci_low'])} to {_pct(r['ci_high'])})"
    )
    if ex["beaten"] is None:
        text += "; a feature the model ignored would change none."
    else:
        own = {_null_label(main, k) for k in ("location_null", "content_null")}
        nulls = [
            f"{null_words[k][0]} changed {_pct(v['value'])}"
            for k, v in rates.items()
            if v["null"] and k in own
        ]
        what, means = null_words[ex["beaten"]]
        text += (
            f"; {' and '.join(nulls)}. Against the smaller null ({what}) the excess is "
            f"{100 * ex['value']:.0f} points (CI {100 * ex['ci_low']:.0f} to "
            f"{100 * ex['ci_high']:.0f}); an excess clearly above zero means the model {means}."
        )
    for art, other in list(summary["excess"].items())[1:] if phrase else []:
        null = rates.get(_null_label(art, "location_null"))
        done = verb_of[art]
        text += f" {done[0].upper()}{done[1:]} changed {_pct(rates[art]['value'])}"
        if null is not None:
            text += f", {null_words[_null_label(art, 'location_null')][0]} {_pct(null['value'])}"
        text += (
            f" (excess {100 * other['value']:.0f} points, CI {100 * other['ci_low']:.0f} to "
            f"{100 * other['ci_high']:.0f})."
        )
    if summary.get("enrichment"):
        e = summary["enrichment"]
        text += (
            f" The artifact holds {e['value']:.1f}x its area's share of the attribution "
            f"(CI {e['ci_low']:.1f} to {e['ci_high']:.1f})."
        )
    return text
