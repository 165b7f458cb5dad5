"""Raw-text perturbations as CheckList invariance (INV) tests, through the model's tokenizer.

For raw text (a Hugging Face folder, or `data.text` with `data.tokenizer`) each family of
`string_edits` rewrites the sampled texts at every level; the new strings are encoded by the
model's own tokenizer (`TextEncoder.encode`, truncation at the model's limit counted) and
scored through `CheckContext.predict`, so an orchestrator's sharding and the runner's
length-sorted dynamic padding apply. A family is measured on the rows it could edit (a text
with no word on the synonym list has no synonym edit); `n` says how many. A case fails
invariance when the decision changes and the clean class's probability moves by more than
`INV_TOLERANCE`, as for token ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.checks.base import CheckContext
from audit.records import Metric
from audit.tokenization import TextEncoder

from ._common import INV_TOLERANCE, MAX_EXAMPLES, PerturbationSample, rng_for, text_edit_metrics
from .string_edits import FAMILIES, Change

UNITS = "shares of each text's words edited"
NOT_EDITABLE = "{family} was not measured: none of the sampled texts has a word it can edit."


def _subset(sample: PerturbationSample, rows: np.ndarray) -> PerturbationSample:
    return PerturbationSample(
        index=sample.index[rows],
        x=sample.x[rows],
        y=sample.y[rows],
        proba=sample.proba[rows],
        pred=sample.pred[rows],
    )


def _round_robin(lists: list[list[dict[str, Any]]], k: int) -> list[dict[str, Any]]:
    """The first of each list, then the second of each, ..., k in all: examples from every
    family that flipped a decision, not only from the first."""
    out = [row[i] for i in range(max(map(len, lists), default=0)) for row in lists if i < len(row)]
    return out[:k]


def _encode(encoder: TextEncoder, groups: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (int32, right-padded to the longest row of all groups) and truncation flags
    of every group's texts, in order. Encoded a group at a time and stored as int32, so the
    word ids and int64 copies of all the edited texts (six families, five levels) are
    never held at once; the runner casts each batch to int64."""
    parts = [encoder.encode(g) for g in groups if g]
    width = max((p.ids.shape[1] for p in parts), default=0)
    ids = np.full((sum(len(p.ids) for p in parts), width), encoder.pad_id, dtype=np.int32)
    start = 0
    for p in parts:
        ids[start : start + len(p.ids), : p.ids.shape[1]] = p.ids
        start += len(p.ids)
    flags = [p.truncated for p in parts]
    return ids, np.concatenate(flags) if flags else np.zeros(0, dtype=bool)


def perturb(
    texts: list[str], family: str, rates: list[float], seed: int
) -> list[list[tuple[str, list[Change]]]]:
    """Per level (1 first), each text edited by `family`, with its edits; one seeded
    stream per (family, level), so a level's texts do not depend on the others'."""
    edit = FAMILIES[family][0]
    out = []
    for s, rate in enumerate(rates, start=1):
        rng = rng_for(seed, family, s)
        out.append([edit(t, rate, rng) for t in texts])
    return out


def measure_raw_text(
    ctx: CheckContext, sample: PerturbationSample
) -> tuple[list[Metric], dict[str, Any], list[str]]:
    """Each family at each level. Every edited text is scored in one `predict` call, so
    the runner's length sort has the whole pool to group rows of similar length.
    Returns the metrics, the evidence and notes for the report."""
    data, cfg = ctx.data, ctx.config
    assert data.texts is not None and data.encoder is not None  # the raw-text route
    texts = [data.texts[int(i)] for i in sample.index]
    levels = {f: perturb(texts, f, list(cfg.levels), ctx.seed) for f in FAMILIES}
    edited = {f: [np.flatnonzero([bool(c) for _, c in lv]) for lv in v] for f, v in levels.items()}
    ids, truncated = _encode(
        data.encoder,
        [[level[i][0] for level, rows in zip(levels[f], edited[f], strict=True) for i in rows]
         for f in FAMILIES],
    )  # fmt: skip
    proba, pred = ctx.predict(ids, cfg.batch_size) if len(ids) else (None, None)
    cls = sample.pred[:, None]
    p_clean = np.take_along_axis(sample.proba, cls, axis=1)[:, 0]
    metrics: list[Metric] = []
    examples: dict[str, list[dict[str, Any]]] = {}  # per family, mildest level first
    counts: dict[str, dict[str, list[float]]] = {}
    notes: list[str] = []
    start = 0
    for family in FAMILIES:
        if not any(len(rows) for rows in edited[family]):
            notes.append(NOT_EDITABLE.format(family=family))
            continue
        stats = counts[family] = {"edited": [], "mean_edits": [], "truncated": []}
        found = examples[family] = []
        for s, (level, rows) in enumerate(zip(levels[family], edited[family], strict=True), 1):
            m, end = len(rows), start + len(rows)
            stats["edited"].append(m)
            stats["mean_edits"].append(float(np.mean([len(level[i][1]) for i in rows])) if m else 0)
            stats["truncated"].append(int(truncated[start:end].sum()))
            if m == 0:
                continue
            assert proba is not None and pred is not None  # scored: some text was edited
            p_after, pred_after, start = proba[start:end], pred[start:end], end
            sub = _subset(sample, rows)
            found_metrics, fails = text_edit_metrics(
                sub,
                p_after,
                pred_after,
                p_clean[rows],
                cls[rows],
                ctx.confidence,
                perturbation=family,
                level=s,
            )
            metrics += found_metrics
            found += [
                {
                    "before": texts[rows[j]],
                    "after": level[rows[j]][0],
                    "edits": level[rows[j]][1],
                    "pred": int(sub.pred[j]),
                    "pred_after": int(pred_after[j]),
                    "perturbation": family,
                    "level": s,
                }
                for j in np.flatnonzero(fails)[: max(0, MAX_EXAMPLES - len(found))]
            ]
    evidence = {
        "flipped_raw_texts": _round_robin(list(examples.values()), MAX_EXAMPLES),
        "levels": {f: list(cfg.levels) for f in counts},
        "text_families": {f: FAMILIES[f][1] for f in counts},
        "text_edits": counts,
        "invariance_tolerance": INV_TOLERANCE,
    }
    return metrics, evidence, notes
