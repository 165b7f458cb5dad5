"""Edits of raw text as people make them: typos, casing, spacing and punctuation, dropped or
swapped words, synonyms.

Why strings, not token ids: a Hugging Face model meets text before its tokenizer does, so a
typo or a missing space changes the sub-word split the model sees, which an edit of token ids
cannot reproduce. Each family edits a share `rate` of a text's words (at least one edit, when
the text has a word the family can edit) and returns the new text with the edits made, each as
(before, after) snippets for the report. One seeded generator per (family, level) draws
every choice, so the same seed gives the same texts.

A text is split into words (runs of letters and digits, with inner apostrophes) and the
separators after them; an edit rewrites a word or the separator after it, so everything else
in the text stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

# (before, after): the words or word-and-separator snippets an edit changed
Change = tuple[str, str]
Family = Callable[[str, float, np.random.Generator], tuple[str, list[Change]]]

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_PUNCT = re.compile(r"[^\w\s]")
PUNCTUATION = ",.!?;:"
SYNONYM_FILE = "synonyms.tsv"

# Keys a touch typist's finger lands on instead: horizontal and diagonal QWERTY neighbours.
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _qwerty() -> dict[str, str]:
    where = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    near: dict[str, str] = {}
    for c, (r, i) in where.items():
        # the row below is shifted half a key right: its keys i-1 and i touch key i
        cand = [(r, i - 1), (r, i + 1), (r - 1, i), (r - 1, i + 1), (r + 1, i - 1), (r + 1, i)]
        near[c] = "".join(
            _ROWS[rr][ii] for rr, ii in cand if 0 <= rr < 3 and 0 <= ii < len(_ROWS[rr])
        )
    return near


QWERTY_NEIGHBOURS = _qwerty()


@dataclass
class Split:
    """A text as `prefix + word[0] + sep[0] + word[1] + sep[1] + ...`."""

    prefix: str
    words: list[str]
    seps: list[str]

    @classmethod
    def of(cls, text: str) -> Split:
        found = list(_WORD.finditer(text))
        if not found:
            return cls(text, [], [])
        ends = [m.start() for m in found[1:]] + [len(text)]
        return cls(
            text[: found[0].start()],
            [m.group() for m in found],
            [text[m.end() : e] for m, e in zip(found, ends, strict=True)],
        )

    def text(self) -> str:
        return self.prefix + "".join(w + s for w, s in zip(self.words, self.seps, strict=True))


def edit_count(n_words: int, rate: float, limit: int) -> int:
    """round(rate · words), at least 1, at most `limit` (what the text allows)."""
    return int(min(max(1, round(rate * n_words)), max(limit, 0)))


def _pick(eligible: list[int], n_words: int, rate: float, rng: np.random.Generator) -> list[int]:
    k = edit_count(n_words, rate, len(eligible))
    if k == 0:
        return []
    return sorted(int(i) for i in rng.choice(eligible, size=k, replace=False))


def _word_family(
    eligible: Callable[[str], bool],
    candidates: Callable[[str, np.random.Generator], list[str]],
) -> Family:
    """A family that rewrites chosen words, each to one of its `candidates` (which all differ
    from the word, and exist for every `eligible` word); only chosen words draw candidates."""

    def edit(text: str, rate: float, rng: np.random.Generator) -> tuple[str, list[Change]]:
        split = Split.of(text)
        allowed = [i for i, w in enumerate(split.words) if eligible(w)]
        changes = []
        for i in _pick(allowed, len(split.words), rate, rng):
            options = candidates(split.words[i], rng)
            new = options[int(rng.integers(len(options)))]
            changes.append((split.words[i], new))
            split.words[i] = new
        return split.text(), changes

    return edit


def _typos(word: str, rng: np.random.Generator) -> list[str]:
    """One keyboard-adjacent substitution, one dropped character, one swap of two neighbours."""
    out: list[str] = []
    keys = [i for i, c in enumerate(word) if c.lower() in QWERTY_NEIGHBOURS]
    if keys:
        i = keys[int(rng.integers(len(keys)))]
        near = QWERTY_NEIGHBOURS[word[i].lower()]
        c = near[int(rng.integers(len(near)))]
        out.append(word[:i] + (c.upper() if word[i].isupper() else c) + word[i + 1 :])
    if len(word) >= 2:
        i = int(rng.integers(len(word)))
        out.append(word[:i] + word[i + 1 :])
        pairs = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
        if pairs:
            i = pairs[int(rng.integers(len(pairs)))]
            out.append(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    return out


def _casings(word: str, rng: np.random.Generator) -> list[str]:
    """All caps, lower case, capitalized, or each letter's case at random: those that differ."""
    flips = rng.random(len(word)) < 0.5
    mixed = "".join(c.upper() if up else c.lower() for c, up in zip(word, flips, strict=True))
    variants = (word.upper(), word.lower(), word.capitalize(), mixed)
    return [v for v in dict.fromkeys(variants) if v != word]


@cache
def synonym_list() -> dict[str, tuple[str, ...]]:
    """The bundled synonym list: lower-case word -> its synonyms (see data/SYNONYMS.md)."""
    raw = resources.files("audit.checks.robustness").joinpath("data", SYNONYM_FILE)
    table: dict[str, tuple[str, ...]] = {}
    for line in raw.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            word, _, rest = line.partition("\t")
            table[word.strip()] = tuple(s.strip() for s in rest.split(",") if s.strip())
    return table


def _match_case(model: str, word: str) -> str:
    if len(model) > 1 and model.isupper():
        return word.upper()
    return word.capitalize() if model[:1].isupper() else word


def _synonyms(word: str, rng: np.random.Generator) -> list[str]:
    return [_match_case(word, s) for s in synonym_list().get(word.lower(), ())]


typo = _word_family(lambda w: len(w) >= 2 or w.lower() in QWERTY_NEIGHBOURS, _typos)
casing = _word_family(lambda w: w.upper() != w.lower(), _casings)
synonym = _word_family(lambda w: w.lower() in synonym_list(), _synonyms)


def _gap_edits(sep: str, last: bool, rng: np.random.Generator) -> list[str]:
    """New separators after a word: an extra space, the space removed (the words run
    together), a punctuation mark inserted, or the punctuation removed."""
    out = []
    if sep.strip() == "" and sep and not last:
        at = int(rng.integers(len(sep) + 1))
        out += [sep[:at] + " " + sep[at:], ""]
    if _PUNCT.search(sep):
        bare = _PUNCT.sub("", sep)
        out.append(bare if bare or last else " ")
    else:
        out.append(PUNCTUATION[int(rng.integers(len(PUNCTUATION)))] + sep)
    return out


def whitespace_punctuation(
    text: str, rate: float, rng: np.random.Generator
) -> tuple[str, list[Change]]:
    """Rewrite the separator after a share of the words (every word has one option)."""
    split = Split.of(text)
    n = len(split.words)
    chosen = _pick(list(range(n)), n, rate, rng)
    changes = []
    for i in chosen:
        options = _gap_edits(split.seps[i], i == n - 1, rng)
        new = options[int(rng.integers(len(options)))]
        changes.append((split.words[i] + split.seps[i], split.words[i] + new))
        split.seps[i] = new
    return split.text(), changes


def word_drop(text: str, rate: float, rng: np.random.Generator) -> tuple[str, list[Change]]:
    """Remove a share of the words, never all of them. Of the separators around a dropped
    word one stays: the one after it, unless only the one before holds punctuation (the first
    word takes the separator after it with it)."""
    split = Split.of(text)
    n = len(split.words)
    chosen = _pick(list(range(n)), n, rate, rng) if n >= 2 else []
    if len(chosen) == n:
        chosen = chosen[:-1]
    changes = [(split.words[i], "") for i in chosen]
    seps = split.seps
    for i in reversed(chosen):
        del split.words[i]
        if i > 0 and (_PUNCT.search(seps[i]) or not _PUNCT.search(seps[i - 1])):
            seps[i - 1] = seps[i]
        del seps[i]
    return split.text(), changes


def word_swap(text: str, rate: float, rng: np.random.Generator) -> tuple[str, list[Change]]:
    """Swap a share of the words with their right neighbour; swaps never overlap. At most
    ceil(m / 3) of the m possible swaps are made, which a random greedy choice always reaches,
    so the number of swaps grows with `rate`."""
    split = Split.of(text)
    w = split.words
    starts = [i for i in range(len(w) - 1) if w[i] != w[i + 1]]
    k = edit_count(len(w), rate, -(-len(starts) // 3))
    taken: list[int] = []
    for i in rng.permutation(starts) if k else []:
        if len(taken) == k:
            break
        if all(abs(int(i) - j) > 1 for j in taken):
            taken.append(int(i))
    changes = []
    for i in sorted(taken):
        changes.append((f"{w[i]} {w[i + 1]}", f"{w[i + 1]} {w[i]}"))
        w[i], w[i + 1] = w[i + 1], w[i]
    return split.text(), changes


# Family name -> (edit, what it does in words: the report's definition).
FAMILIES: dict[str, tuple[Family, str]] = {
    "typo": (
        typo,
        "each edited word gets one typing error: a letter replaced by a neighbouring key on a "
        "QWERTY keyboard, a character dropped, or two neighbouring characters swapped",
    ),
    "casing": (
        casing,
        "each edited word is written in capitals, in lower case, capitalized, or with each "
        "letter's case drawn at random",
    ),
    "whitespace_punctuation": (
        whitespace_punctuation,
        "after each edited word a space is added, the space is removed (the words run "
        "together), a punctuation mark is inserted, or the punctuation there is removed",
    ),
    "word_drop": (word_drop, "the edited words are deleted (at least one word is kept)"),
    "word_swap": (
        word_swap,
        "edited words change places with the word after them (swaps never overlap)",
    ),
    "synonym": (
        synonym,
        "each edited word is replaced by a synonym from the bundled list of common English "
        "words, keeping its capitalization; only words on that list can be edited",
    ),
}
