"""The identity-term check: counterfactual swaps, templates, and Borkan's AUCs on real data.

Three measurements of one question: does naming an identity change the model's output?

1. Counterfactual swaps (Garg et al. 2019): each text that mentions exactly one term of a
   category gets that term swapped for every other term of the category; the counterfactual
   token fairness gap is the mean change of the class probabilities, and the flip rate the
   share of swaps that change the decision, with bootstrap intervals over the texts.
2. Templates (Dixon et al. 2018): sentences with known labels filled with each term; per term
   the mean score and positive rate, and per category the spread of mean scores and the false
   positive/negative equality differences.
3. Real labels (Borkan et al. 2019): per term the subgroup, BPSN and BNSP AUCs and their gaps
   to the overall AUC, with row-bootstrap intervals; a term with fewer than the minimum group
   size of positives or negatives (in or outside the subgroup) is not measured, and every
   per-category aggregate then carries its size, so the policy cannot pass it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

import numpy as np

from audit import progress
from audit.checks.base import CheckContext, CheckOutput
from audit.checks.identity_terms.auc import Subsets, auc, bootstrap_aucs
from audit.checks.identity_terms.evidence import IdentityTermsEvidence, SwapExample
from audit.checks.identity_terms.lexicon import Matcher, Template, bundled_lexicon, read_templates
from audit.checks.identity_terms.spec import IdentityTermsSpec
from audit.records import IntervalBasis, Metric, SubjectKeys
from audit.stats import percentile_interval, wilson_interval
from audit.streams import stream

NAME = "identity_terms"
CTF_NAMES = ("ctf_gap", "swap_flip_rate", "ctf_gap_term", "ctf_gap_pair")
TEMPLATE_NAMES = (
    "template_mean_score",
    "template_positive_rate",
    "template_score_gap",
    "template_fped",
    "template_fned",
)
AUCS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
AUC_NAMES = (
    "mentions",
    "overall_auc",
    *AUCS,
    *(f"{a}_gap" for a in AUCS),
    *(f"max_{a}_gap" for a in AUCS),
)
ALL_NAMES = (*CTF_NAMES, *TEMPLATE_NAMES, *AUC_NAMES)
SCORE_CHUNK = 8192  # texts tokenized and scored per call (each chunk padded to its longest)
BOOT_CELLS = 8_000_000  # resamples x rows held at once by a bootstrap of means


class _Keys(SubjectKeys, total=False):
    """A metric's subject and its `n`."""

    n: int | None


@dataclass(frozen=True)
class _Run:
    ctx: CheckContext
    config: IdentityTermsSpec
    confidence: float

    @property
    def basis(self) -> IntervalBasis:
        return IntervalBasis("percentile", self.confidence)

    def metric(
        self, name: str, value: float, samples: np.ndarray | None = None, **keys: Unpack[_Keys]
    ) -> Metric:
        """A Metric whose percentile interval (if resampled) is widened to bracket the value."""
        low = high = None
        if samples is not None and len(samples):
            lo, hi = percentile_interval(samples, self.confidence)
            if np.isfinite(lo) and np.isfinite(hi):
                low, high = min(float(lo), value), max(float(hi), value)
        interval = self.basis if low is not None else None
        return Metric(NAME, name, value, ci_low=low, ci_high=high, interval=interval, **keys)

    def rng(self, *keys: str) -> np.random.Generator:
        return stream(self.ctx.seed, NAME, *keys)

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and decisions for new texts, tokenized by the model's own tokenizer."""
        encoder = self.ctx.data.encoder
        assert encoder is not None
        parts = [
            self.ctx.predict(encoder.encode(texts[i : i + SCORE_CHUNK]).ids, self.config.batch_size)
            for i in range(0, len(texts), SCORE_CHUNK)
        ]
        return np.concatenate([p for p, _ in parts]), np.concatenate([d for _, d in parts])


def _resampled_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot,) means of `values` (rows) over resamples of its rows; axis 0 is resampled."""
    if n_boot == 0 or len(values) == 0:
        return np.empty((0, *values.shape[1:]))
    m = len(values)
    step = max(1, BOOT_CELLS // m)
    return np.concatenate(
        [
            values[rng.integers(0, m, size=(min(step, n_boot - start), m))].mean(axis=1)
            for start in range(0, n_boot, step)
        ]
    )


def _not_applicable(reason: str, names: Sequence[str] = ALL_NAMES) -> dict[str, str]:
    return dict.fromkeys(names, reason)


def _inapplicable(ctx: CheckContext) -> str | None:
    data = ctx.data
    if data.modality != "text":
        return f"identity terms are words of a text; this is a {data.modality} model"
    if data.texts is None or data.encoder is None:
        return (
            "the data are token ids without their texts or tokenizer (`.npz`); identity terms "
            "are matched and swapped in raw text (`data.text`)"
        )
    return None


class IdentityTermsCheck:
    """Identity-term bias of a text classifier (docs/methods.md, Identity terms)."""

    def measure(self, ctx: CheckContext) -> CheckOutput:
        config = ctx.config if isinstance(ctx.config, IdentityTermsSpec) else IdentityTermsSpec()
        reason = _inapplicable(ctx)
        if reason is not None:
            return CheckOutput((), IdentityTermsEvidence(reason=reason), _not_applicable(reason))
        run = _Run(ctx, config, config.confidence or ctx.confidence)
        lexicon = config.terms if config.terms is not None else bundled_lexicon()
        matchers = {c: Matcher(terms) for c, terms in lexicon.items()}
        texts = ctx.data.texts
        assert texts is not None
        found = {c: [m.found(t) for t in texts] for c, m in matchers.items()}
        binary = ctx.predictions.proba.shape[1] == 2
        metrics: list[Metric] = []
        not_applicable: dict[str, str] = {}

        too_small: list[tuple[str, str, int]] = []
        y = np.asarray(ctx.data.y)
        if not binary:
            not_applicable |= _not_applicable(
                "subgroup, BPSN and BNSP AUCs are defined for binary classifiers", AUC_NAMES
            )
        elif len(np.unique(y)) < 2:
            not_applicable |= _not_applicable("the labels hold a single class", AUC_NAMES)
        elif not any(any(f) for f in found.values()):
            not_applicable |= _not_applicable("no row mentions an identity term", AUC_NAMES)
        else:
            with progress.stage("Identity terms: subgroup, BPSN and BNSP AUCs"):
                aucs, too_small = _aucs(run, matchers, found, y)
            metrics += aucs  # first: `mentions` sizes each term for the judge
        with progress.stage("Identity terms: counterfactual swaps"):
            swapped, examples = _counterfactuals(run, matchers, found)
        metrics += swapped
        if not swapped:
            not_applicable |= _not_applicable(
                "no text mentions exactly one term of a category, so none can be swapped",
                CTF_NAMES,
            )

        template_path = config.templates if isinstance(config.templates, Path) else None
        if config.templates is False:
            not_applicable |= _not_applicable("templates are switched off", TEMPLATE_NAMES)
        elif not binary:
            not_applicable |= _not_applicable(
                "template labels are binary (toxic or not); a multiclass model's classes "
                "have no such meaning",
                TEMPLATE_NAMES,
            )
        else:
            metrics += _templates(run, lexicon, read_templates(template_path))

        evidence = IdentityTermsEvidence(
            lexicon="spec" if config.terms is not None else "bundled",
            templates=""
            if config.templates is False
            else ("bundled" if template_path is None else str(template_path)),
            min_group_size=ctx.min_group_size,
            too_small=tuple(too_small),
            unmentioned=tuple(c for c, f in found.items() if not any(f)),
            examples=tuple(examples),
        )
        return CheckOutput(tuple(metrics), evidence, not_applicable)


def _counterfactuals(
    run: _Run, matchers: dict[str, Matcher], found: dict[str, list[set[str]]]
) -> tuple[list[Metric], list[SwapExample]]:
    ctx, config = run.ctx, run.config
    texts = ctx.data.texts
    assert texts is not None
    metrics: list[Metric] = []
    examples: list[SwapExample] = []
    for category, matcher in matchers.items():
        eligible = np.array([i for i, f in enumerate(found[category]) if len(f) == 1], dtype=int)
        if not len(eligible):
            continue
        if len(eligible) > config.sample:
            pick = run.rng("sample", category).choice(len(eligible), config.sample, replace=False)
            eligible = eligible[np.sort(pick)]
        terms = matcher.terms
        sources = [next(iter(found[category][i])) for i in eligible]
        targets = [[t for t in terms if t != s] for s in sources]
        swapped = [
            matcher.swap(texts[i], s, t)
            for i, s, ts in zip(eligible, sources, targets, strict=True)
            for t in ts
        ]
        proba, pred = run.score(swapped)
        k = len(terms) - 1
        before = np.repeat(ctx.predictions.proba[eligible], k, axis=0)
        change = 0.5 * np.abs(proba - before).sum(axis=1)
        flips = pred != np.repeat(ctx.predictions.label[eligible], k)
        per_text = change.reshape(-1, k)
        m = len(eligible)
        rng = run.rng("ctf", category)
        draws = _resampled_means(
            np.column_stack([per_text.mean(1), flips.reshape(-1, k).mean(1)]), config.n_boot, rng
        )
        metrics.append(
            run.metric("ctf_gap", float(per_text.mean()), draws[:, 0], feature=category, n=m)
        )
        metrics.append(
            run.metric("swap_flip_rate", float(flips.mean()), draws[:, 1], feature=category, n=m)
        )
        metrics += _term_gaps(run, category, terms, np.array(sources, dtype=object), per_text)
        examples += _examples(
            run, category, eligible, sources, targets, swapped, proba, before, change
        )
    return metrics, examples


def _term_gaps(
    run: _Run, category: str, terms: Sequence[str], sources: np.ndarray, per_text: np.ndarray
) -> list[Metric]:
    """`ctf_gap_term` per source term and `ctf_gap_pair` per (source, target) pair; a text's
    swaps run over the other terms in lexicon order, so column j of `per_text` is the j-th."""
    n_boot = run.config.n_boot
    out: list[Metric] = []
    for s in terms:
        rows = np.flatnonzero(sources == s)
        if not len(rows):
            continue
        mine = per_text[rows]
        draws = _resampled_means(mine.mean(1), n_boot, run.rng("ctf", category, s))
        keys: _Keys = {"feature": category, "group": s, "n": len(rows)}
        out.append(run.metric("ctf_gap_term", float(mine.mean()), draws, **keys))
        for j, t in enumerate(t for t in terms if t != s):
            pair = mine[:, j]
            draws = _resampled_means(pair, n_boot, run.rng("ctf", category, s, t))
            pair_keys: _Keys = {**keys, "perturbation": f"to {t}"}
            out.append(run.metric("ctf_gap_pair", float(pair.mean()), draws, **pair_keys))
    return out


def _examples(
    run: _Run,
    category: str,
    eligible: np.ndarray,
    sources: list[str],
    targets: list[list[str]],
    swapped: list[str],
    proba: np.ndarray,
    before: np.ndarray,
    change: np.ndarray,
) -> list[SwapExample]:
    """The most-changed swaps of a category, as words, with the score the reader compares:
    binary, the positive class's probability; multiclass, the original decision's."""
    texts = run.ctx.data.texts
    assert texts is not None
    k = len(targets[0]) if targets else 1
    column = (
        np.ones(len(change), dtype=int)
        if proba.shape[1] == 2
        else np.repeat(run.ctx.predictions.label[eligible], k)
    )
    rows = np.arange(len(change))
    after_score, before_score = proba[rows, column], before[rows, column]
    out = []
    for j in np.argsort(-change, kind="stable")[: run.config.examples]:
        row, col = divmod(int(j), k)
        out.append(
            SwapExample(
                category=category,
                source=sources[row],
                target=targets[row][col],
                before=texts[int(eligible[row])],
                after=swapped[int(j)],
                score_before=float(before_score[j]),
                score_after=float(after_score[j]),
                change=float(change[j]),
            )
        )
    return out


def _templates(
    run: _Run, lexicon: dict[str, list[str]], templates: tuple[Template, ...]
) -> list[Metric]:
    config = run.config
    labels = np.array([t.label for t in templates])
    neutral, toxic = labels == 0, labels == 1
    n = len(templates)
    metrics: list[Metric] = []
    for category, terms in lexicon.items():
        proba, pred = run.score([tpl.fill(term) for term in terms for tpl in templates])
        score = proba[:, 1].reshape(len(terms), n)  # (K, T)
        positive = (pred == 1).reshape(len(terms), n).astype(np.float64)
        draws = (
            run.rng("templates", category).integers(0, n, size=(config.n_boot, n))
            if config.n_boot
            else np.empty((0, n), dtype=int)
        )
        boot_means = score[:, draws].mean(axis=2).T  # (B, K)
        means = score.mean(axis=1)
        low, high = wilson_interval(positive.sum(axis=1), np.full(len(terms), n), run.confidence)
        for k, term in enumerate(terms):
            metrics.append(
                run.metric(
                    "template_mean_score",
                    float(means[k]),
                    boot_means[:, k],
                    feature=category,
                    group=term,
                    n=n,
                )
            )
            successes = int(positive[k].sum())
            metrics.append(
                Metric(
                    NAME,
                    "template_positive_rate",
                    successes / n,
                    feature=category,
                    group=term,
                    ci_low=float(low[k]),
                    ci_high=float(high[k]),
                    interval=IntervalBasis("wilson", run.confidence, successes, n),
                    n=n,
                )
            )
        metrics.append(
            run.metric(
                "template_score_gap",
                float(means.max() - means.min()),
                boot_means.max(axis=1) - boot_means.min(axis=1),
                feature=category,
                n=n,
            )
        )
        for name, subset, wrong in (
            ("template_fped", neutral, positive),
            ("template_fned", toxic, 1.0 - positive),
        ):
            if not subset.any():
                continue
            value = _equality_difference(wrong, subset)
            boot = np.array([_equality_difference(wrong[:, d], subset[d]) for d in draws])
            metrics.append(run.metric(name, value, boot, feature=category, n=int(subset.sum())))
    return metrics


def _equality_difference(wrong: np.ndarray, subset: np.ndarray) -> float:
    """Dixon et al.'s equality difference: sum over terms of |term error rate − overall|.

    `wrong` (K, T) marks the errors per term and template, `subset` (T,) the templates whose
    label the rate is of (neutral ones for false positives, toxic ones for false negatives);
    NaN when a resample holds none of them (the percentile interval skips it).
    """
    if not subset.any():
        return float("nan")
    per_term = wrong[:, subset].mean(axis=1)
    return float(np.abs(per_term - per_term.mean()).sum())


def _aucs(
    run: _Run, matchers: dict[str, Matcher], found: dict[str, list[set[str]]], y: np.ndarray
) -> tuple[list[Metric], list[tuple[str, str, int]]]:
    ctx, config = run.ctx, run.config
    score = ctx.predictions.proba[:, 1]
    pos, neg = y == 1, y != 1
    overall = auc(score, pos, neg)
    overall_draws = bootstrap_aucs(score, [(pos, neg)], config.n_boot, run.rng("auc", "overall"))
    metrics = [
        run.metric(
            "overall_auc",
            overall,
            overall_draws[:, 0],
            n=int(min(pos.sum(), neg.sum())),
        )
    ]
    too_small: list[tuple[str, str, int]] = []
    least = ctx.min_group_size
    for category, matcher in matchers.items():
        subsets: dict[str, Subsets] = {}
        for term in matcher.terms:
            mentions = np.array([term in f for f in found[category]], dtype=bool)
            if mentions.any():
                subsets[term] = Subsets.of(mentions, y)
        if not subsets:
            continue
        for term, sub in subsets.items():
            metrics.append(
                Metric(NAME, "mentions", sub.rows, feature=category, group=term, n=sub.n)
            )
        measured = [t for t, s in subsets.items() if s.n >= least]
        too_small += [(category, t, s.n) for t, s in subsets.items() if s.n < least]
        pairs = [(pos, neg)] + [p for t in measured for p in subsets[t].pairs().values()]
        draws = bootstrap_aucs(score, pairs, config.n_boot, run.rng("auc", category))
        boot = draws[:, 1:].reshape(len(draws), len(measured), len(AUCS))  # (B, terms, 3)
        boot_gap = draws[:, :1, None] - boot
        values = {
            t: {name: auc(score, *p) for name, p in s.pairs().items()} for t, s in subsets.items()
        }
        for j, term in enumerate(measured):
            n = subsets[term].n
            for a, name in enumerate(AUCS):
                value = values[term][name]
                metrics.append(
                    run.metric(name, value, boot[:, j, a], feature=category, group=term, n=n)
                )
                metrics.append(
                    run.metric(
                        f"{name}_gap",
                        overall - value,
                        boot_gap[:, j, a],
                        feature=category,
                        group=term,
                        n=n,
                    )
                )
        smallest = min(s.n for s in subsets.values())
        for a, name in enumerate(AUCS):
            # measured terms when there are any; else the defined ones (the size then fails)
            chosen = measured or list(subsets)
            defined = [overall - values[t][name] for t in chosen if np.isfinite(values[t][name])]
            if not defined:
                continue
            samples = boot_gap[:, :, a].max(axis=1) if measured and smallest >= least else None
            metrics.append(
                run.metric(f"max_{name}_gap", max(defined), samples, feature=category, n=smallest)
            )
    return metrics, too_small
