"""Sub-word token attributions summed to the words a reviewer reads.

A tokenizer splits `fastship` into `fast` and `##ship`; a reviewer reads one word. Each word's
attribution is the sum of its tokens' (`word_ids` from `TextEncoder.encode`), which keeps
integrated gradients' completeness: the words' attributions add up to exactly the attribution
of the non-special tokens, and special tokens and padding (word id -1) belong to no word.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from audit.checks.spurious import detect
from audit.checks.spurious.evidence import WordImportance
from audit.tokenization import Word


def word_sums(attr: np.ndarray, word_ids: np.ndarray) -> list[np.ndarray]:
    """Per row, (W,) attributions of its words 0..W-1 (W: one past its largest word id)."""
    out = []
    for a, w in zip(attr, word_ids, strict=True):
        keep = w >= 0
        size = int(w[keep].max()) + 1 if keep.any() else 0
        out.append(np.bincount(w[keep], weights=a[keep], minlength=size))
    return out


def top_words(
    sums: list[np.ndarray],
    words: list[list[Word]],
    *,
    top: int,
    min_count: int,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[WordImportance, ...]:
    """The `top` words by mean |attribution| among those seen at least `min_count` times.

    Occurrences of one word are grouped by its token ids (what the model reads), and shown
    with its most frequent spelling; only words the model read (inside its maximum length)
    count, so `sums[i]` may be shorter than `words[i]`."""
    values: dict[tuple[int, ...], list[float]] = defaultdict(list)
    spelling: dict[tuple[int, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row_sums, row_words in zip(sums, words, strict=True):
        for value, word in zip(row_sums, row_words, strict=False):
            values[word.ids].append(abs(float(value)))
            spelling[word.ids][word.text] += 1
    ranked = sorted(
        (k for k, v in values.items() if len(v) >= min_count),
        key=lambda k: (-float(np.mean(values[k])), k),
    )[:top]
    out = []
    for key in ranked:
        v = np.asarray(values[key])
        low, high = detect.mean_ci(v, detect.boot_indices(len(v), n_boot, rng), confidence)
        name = max(spelling[key].items(), key=lambda kv: (kv[1], kv[0]))[0]
        out.append(WordImportance(name, float(v.mean()), low, high, len(v)))
    return tuple(out)
