"""The audit sample shared by every probe, and the evidence that needs no probe.

The sample is drawn once (seeded) so every probe, null and explainer sees the same rows.
Global evidence: the explainer sanity check, tabular attribution shares against a shadow
feature, and local explanations of a few misclassified inputs (context for the reviewer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from audit.checks.base import CheckContext
from audit.checks.spurious import detect, rollout
from audit.checks.spurious.attribution import (
    Attribution,
    MethodConfig,
    ModelVariant,
    attribute_slice,
    rows_per_batch,
)
from audit.checks.spurious.evidence import (
    Example,
    FeatureShare,
    ImageExample,
    SpuriousEvidence,
    TabularExample,
    TextExample,
    WordImportance,
)
from audit.checks.spurious.spec import SpuriousSpec
from audit.checks.spurious.words import top_words, word_sums
from audit.errors import DataError
from audit.presentation.format import fmt_cell
from audit.records import Metric
from audit.streams import stream
from audit.tokenization import TextEncoder

SHADOW = "(shadow)"
_SANITY_ROWS = 128
TOP_WORDS = 15  # words shown in the global word importance
MIN_WORD_COUNT = 3  # occurrences a word needs to be ranked (a mean of one is an anecdote)


@dataclass
class ProbeSample:
    """Seeded rows of the audit data with the model's predictions on them.

    Attributions and predictions go through `ctx.map_rows`, so an orchestrator can spread
    them over workers; `variant` names the model they run on (the shadow-column wrapper for
    tabular importance).
    """

    ctx: CheckContext
    rows: np.ndarray
    x: np.ndarray
    y: np.ndarray
    proba: np.ndarray
    pred: np.ndarray
    modality: str
    feature_names: tuple[str, ...]
    pad_id: int
    method_cfg: MethodConfig
    confidence: float
    n_boot: int
    seed: int
    batch_size: int
    rng: np.random.Generator  # this sample's own stream (`for_probe` gives each probe one)
    sanity_layers: int = 1
    variant: ModelVariant = "model"
    # raw text: the sampled texts, the model's tokenizer and the word of each token of `x`
    # (-1: a special token or padding)
    texts: tuple[str, ...] | None = None
    encoder: TextEncoder | None = None
    word_ids: np.ndarray | None = None
    # a ViT behind its preprocessing: its patch grid, for attention rollout (None: no rollout)
    grid: rollout.PatchGrid | None = None

    @classmethod
    def draw(cls, ctx: CheckContext, cfg: SpuriousSpec, method: str) -> ProbeSample:
        n = len(ctx.data)
        draw = stream(ctx.seed, "spurious", "sample")
        rows = np.sort(draw.choice(n, size=min(cfg.sample, n), replace=False))
        rng = stream(ctx.seed, "spurious", "global")
        x = ctx.data.x[rows]
        texts, word_ids = None, None
        if ctx.data.texts is not None and ctx.data.encoder is not None:
            texts = tuple(ctx.data.texts[int(r)] for r in rows)
            word_ids = _word_ids(ctx.data.encoder, texts, x)
        image = ctx.data.modality == "image"
        grid = rollout.patch_grid(ctx.model, x[:1]) if image else None
        return cls(
            ctx=ctx,
            rows=rows,
            x=x,
            y=ctx.data.y[rows],
            proba=ctx.predictions.proba[rows],
            pred=ctx.predictions.label[rows],
            modality=ctx.data.modality,
            feature_names=ctx.data.feature_names,
            pad_id=ctx.data.pad_id,
            method_cfg=_method_config(ctx, cfg, method),
            confidence=ctx.confidence,
            n_boot=cfg.n_boot,
            seed=ctx.seed,
            batch_size=cfg.batch_size,
            rng=rng,
            sanity_layers=cfg.sanity_layers,
            texts=texts,
            encoder=ctx.data.encoder,
            word_ids=word_ids,
            grid=grid,
        )

    def valid(self, x: np.ndarray, word_ids: np.ndarray | None = None) -> np.ndarray:
        """Text positions that hold a word's token: not padding, and for raw text not a
        special token either (their attribution is zero by construction of the baseline)."""
        if word_ids is not None:
            return word_ids >= 0
        return x != self.pad_id

    def for_probe(self, name: str) -> ProbeSample:
        """The same sample with the probe's own random stream, so adding, removing or
        reordering probes changes no other probe's variants, nulls or intervals."""
        return replace(self, rng=stream(self.seed, "spurious", "probe", name))

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.ctx.predict(x, batch_size=self.batch_size * 16)

    def boot(self, n: int) -> np.ndarray:
        return detect.boot_indices(n, self.n_boot, self.rng)

    def attribute(self, x: np.ndarray, target: np.ndarray, *, random: bool = False) -> Attribution:
        """Attributions towards `target`; `random` uses the weight-randomized model (sanity)."""
        parts = self.ctx.map_rows(
            attribute_slice,
            len(x),
            align=rows_per_batch(self.method_cfg),
            kwargs={
                "cfg": self.method_cfg,
                "variant": "randomized" if random else self.variant,
                "sanity_layers": self.sanity_layers,
            },
            arrays={"x": x, "target": target},
        )
        return Attribution.concat(parts)

    def rollout_maps(self, x: np.ndarray, *, random: bool = False) -> np.ndarray:
        """Attention-rollout maps (n, P) on the raw canvas, flattened; `random` on the same
        weight-randomized model as the gradient sanity check."""
        assert self.grid is not None
        batch = self.grid.rows_per_pass(self.batch_size)
        parts = self.ctx.map_rows(
            rollout.rollout_slice,
            len(x),
            align=batch,
            kwargs={
                "grid": self.grid,
                "variant": "randomized" if random else "model",
                "seed": self.method_cfg.seed,
                "sanity_layers": self.sanity_layers,
                "batch_size": batch,
            },
            arrays={"x": x},
        )
        return np.concatenate(parts).reshape(len(x), -1)

    def maps(self, attr: np.ndarray) -> np.ndarray:
        """Per-position magnitudes, (n, P): images summed over channels, flattened."""
        if self.modality == "image":
            return np.abs(attr).sum(axis=1).reshape(len(attr), -1)
        return np.abs(attr)


def _method_config(ctx: CheckContext, cfg: SpuriousSpec, method: str) -> MethodConfig:
    x = ctx.data.x
    window: tuple[int, ...] | None = None
    mask = None
    if ctx.data.modality == "tabular":
        baseline = np.median(x, axis=0).astype(np.float32)
    elif ctx.data.modality == "image":
        _, ch, h, w = x.shape
        # black: decoded image files start at 0; preprocessed `.npz` images at their minimum
        bounds = ctx.data.value_bounds
        low = np.full(ch, bounds[0]) if bounds else x.min(axis=(0, 2, 3))
        baseline = low.astype(np.float32)[:, None, None]
        side = 2 if min(h, w) >= 8 else 1
        window = (ch, side, side)
        grid = (np.arange(h)[:, None] // side) * (-(-w // side)) + np.arange(w)[None, :] // side
        mask = grid[None, None]
    else:
        baseline = np.array(ctx.data.pad_id, dtype=np.int64)
    encoder = ctx.data.encoder
    specials = {ctx.data.pad_id} | (set(encoder.special_ids) if encoder is not None else set())
    return MethodConfig(
        method=method,
        baseline=baseline,
        n_steps=cfg.n_steps,
        batch_size=cfg.batch_size,
        window=window,
        feature_mask=mask,
        embedding_layer=cfg.embedding_layer,
        seed=ctx.seed,
        special_ids=tuple(sorted(specials)) if ctx.data.modality == "text" else (),
    )


def _word_ids(encoder: TextEncoder, texts: tuple[str, ...], x: np.ndarray) -> np.ndarray:
    """The word of each token of the sampled rows `x` (their encoding, padded to the data's
    width), from encoding their texts again."""
    enc = encoder.encode(list(texts))
    width = enc.ids.shape[1]
    if width > x.shape[1] or not np.array_equal(enc.ids, x[:, :width]):
        raise DataError(
            "the sampled texts no longer encode to the data's token ids.",
            where="data.text",
            fix="report this: the tokenizer gave different ids for the same texts.",
        )
    word_ids = np.full(x.shape, -1, dtype=np.int64)
    word_ids[:, :width] = enc.word_ids
    return word_ids


def _with_shadow(sample: ProbeSample, source: int) -> tuple[ProbeSample, np.ndarray]:
    """The sample with a shuffled copy of column `source` appended, and a model that ignores it."""
    shadow = sample.x[sample.rng.permutation(len(sample.x)), source]
    x = np.column_stack([sample.x, shadow]).astype(np.float32)
    base = np.append(sample.method_cfg.baseline, np.median(shadow)).astype(np.float32)
    cfg = replace(sample.method_cfg, baseline=base)
    return replace(sample, variant="drop_last", method_cfg=cfg), x


def tabular_attributions(sample: ProbeSample, source: int) -> np.ndarray:
    """Attributions (n, F+1) towards the predicted class, shadow column last."""
    shadowed, x = _with_shadow(sample, source)
    return shadowed.attribute(x, sample.pred).values


def global_evidence(
    sample: ProbeSample, cfg: SpuriousSpec
) -> tuple[list[Metric], SpuriousEvidence]:
    """Sanity check, tabular importance and local explanations; no probe needed."""
    method = sample.method_cfg.method
    metrics: list[Metric] = []
    k = min(_SANITY_ROWS, len(sample.x))
    first = sample.attribute(sample.x[:k], sample.pred[:k])
    again = sample.attribute(sample.x[:k], sample.pred[:k], random=True)
    words = None if sample.word_ids is None else sample.word_ids[:k]
    valid = sample.valid(sample.x[:k], words) if sample.modality == "text" else None
    rho = detect.rank_correlation(sample.maps(first.values), sample.maps(again.values), valid)
    metrics.append(
        Metric(check="spurious", name="sanity_rank_correlation", value=rho, method=method, n=k)
    )
    if first.delta is not None:
        metrics.append(
            Metric(
                check="spurious",
                name="convergence_delta",
                value=float(np.mean(np.abs(first.delta))),
                method=method,
                n=k,
            )
        )
    importance: tuple[FeatureShare, ...] = ()
    word_importance: tuple[WordImportance, ...] = ()
    local: tuple[Example, ...] = ()
    if sample.modality == "tabular":
        m, importance = _importance(sample, cfg)
        metrics.extend(m)
    local = _local_examples(sample, cfg.examples)
    if words is not None and sample.encoder is not None and sample.texts is not None:
        word_importance = top_words(
            word_sums(first.values, words),
            sample.encoder.segment(list(sample.texts[:k])),
            top=TOP_WORDS,
            min_count=MIN_WORD_COUNT,
            n_boot=sample.n_boot,
            confidence=sample.confidence,
            rng=sample.rng,
        )
    rollout_rho = None if sample.grid is None else _rollout_sanity(sample, k)
    evidence = SpuriousEvidence(
        method=method,
        sanity_spearman=rho,
        importance=importance,
        local_examples=local,
        word_importance=word_importance,
        rollout_sanity_spearman=rollout_rho,
        supporting=()
        if rollout_rho is None
        else (
            Metric(
                check="spurious",
                name="sanity_rank_correlation",
                value=rollout_rho,
                method=rollout.METHOD,
                n=k,
            ),
        ),
    )
    return metrics, evidence


def _rollout_sanity(sample: ProbeSample, k: int) -> float:
    """The gradient's sanity check applied to rollout: the same rows, the same randomized
    model, the same rank correlation."""
    first = sample.rollout_maps(sample.x[:k])
    again = sample.rollout_maps(sample.x[:k], random=True)
    return detect.rank_correlation(first, again)


def _importance(
    sample: ProbeSample, cfg: SpuriousSpec
) -> tuple[list[Metric], tuple[FeatureShare, ...]]:
    names = list(sample.feature_names)
    probed = [p.feature for p in cfg.probes if p.type == "feature" and p.feature in names]
    source = names.index(probed[0]) if probed else 0
    attr = tabular_attributions(sample, source)
    share, low, high = detect.attribution_shares(attr, sample.boot(len(attr)), sample.confidence)
    rows = []
    metrics = []
    for name, s, lo, hi in zip([*names, SHADOW], share, low, high, strict=True):
        metrics.append(
            Metric(
                check="spurious",
                name="attribution_share",
                value=float(s),
                feature=name,
                method=sample.method_cfg.method,
                ci_low=float(lo),
                ci_high=float(hi),
                n=len(attr),
            )
        )
        rows.append(FeatureShare(name, float(s), float(lo), float(hi)))
    rows.sort(key=lambda r: -r.share)
    return metrics, tuple(rows)


def _local_examples(sample: ProbeSample, count: int) -> tuple[Example, ...]:
    """Attributions of a few misclassified (else least confident) inputs, for the reviewer."""
    if count == 0:
        return ()
    confidence = sample.proba.max(axis=1)
    wrong = np.flatnonzero(sample.pred != sample.y)
    # the most confident mistakes first: where a reviewer most needs to see why
    order = (
        wrong[np.argsort(-confidence[wrong], kind="stable")]
        if wrong.size
        else np.argsort(confidence, kind="stable")
    )
    pick = order[:count]
    attr = sample.attribute(sample.x[pick], sample.pred[pick]).values
    if sample.modality == "tabular":
        return tuple(
            _tabular_example(sample, i, a, float(confidence[i]))
            for i, a in zip(pick, attr, strict=True)
        )
    shown: list[Example]
    if sample.texts is not None and sample.word_ids is not None:
        shown = [
            word_example(
                sample,
                "(local)",
                sample.texts[i],
                sample.word_ids[i],
                a,
                (),
                int(sample.pred[i]),
                int(sample.pred[i]),
            )
            for i, a in zip(pick, attr, strict=True)
        ]
    else:
        shown = [
            example(sample, "(local)", sample.x[i], a, None, None, int(p), int(p))
            for i, a, p in zip(pick, attr, sample.pred[pick], strict=True)
        ]
    return tuple(
        dataclasses.replace(e, label=int(sample.y[i])) for e, i in zip(shown, pick, strict=True)
    )


def _tabular_example(
    sample: ProbeSample, i: int, attr: np.ndarray, confidence: float
) -> TabularExample:
    """Row i of the sample as the reviewer reads it: coded columns as their labels."""
    categories = sample.ctx.data.categories
    values = []
    for name, v in zip(sample.feature_names, sample.x[i].tolist(), strict=True):
        labels = categories.get(name)
        coded = labels is not None and float(v).is_integer() and 0 <= int(v) < len(labels)
        values.append(labels[int(v)] if coded and labels is not None else fmt_cell(v))
    return TabularExample(
        probe="(local)",
        features=sample.feature_names,
        values=tuple(values),
        attribution=tuple(float(a) for a in np.asarray(attr).reshape(-1)),
        pred=int(sample.pred[i]),
        label=int(sample.y[i]),
        confidence=confidence,
    )


def word_example(
    sample: ProbeSample,
    probe: str,
    text: str,
    word_ids: np.ndarray,
    attr: np.ndarray,
    marked: Sequence[int],
    pred: int,
    pred_after: int,
) -> TextExample:
    """A raw text as its words, each with the sum of its tokens' signed attributions; words
    past the model's maximum length (never read) are left out."""
    assert sample.encoder is not None
    (sums,) = word_sums(attr[None], word_ids[None])
    words = sample.encoder.segment([text])[0][: len(sums)]
    return TextExample(
        probe=probe,
        tokens=tuple(w.text for w in words),
        attribution=tuple(float(a) for a in sums),
        marked=tuple(int(m) for m in marked if m < len(sums)),
        pred=pred,
        pred_after=pred_after,
        unit="word",
    )


def example(
    sample: ProbeSample,
    probe: str,
    x: np.ndarray,
    attr: np.ndarray,
    region: list[int] | None,
    marked: list[int] | None,
    pred: int,
    pred_after: int,
    vocab: list[str] | None = None,
) -> Example:
    """One heatmap or token strip for the report."""
    if sample.modality == "image":
        return ImageExample(
            probe=probe,
            image=x.astype(np.float32),
            attribution=np.abs(attr).sum(axis=0).astype(np.float32),
            region=None if region is None else (region[0], region[1], region[2], region[3]),
            pred=pred,
            pred_after=pred_after,
        )
    keep = x != sample.pad_id
    ids = x[keep].tolist()
    positions = np.flatnonzero(keep)
    return TextExample(
        probe=probe,
        tokens=tuple(vocab[t] if vocab and t < len(vocab) else str(t) for t in ids),
        attribution=tuple(float(a) for a in attr[keep]),
        marked=tuple(int(np.searchsorted(positions, m)) for m in (marked or [])),
        pred=pred,
        pred_after=pred_after,
    )
