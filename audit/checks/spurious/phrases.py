"""Controlled copies of raw texts for a phrase probe: the phrase inserted, removed or swapped,
and the two nulls, each edited as text at word boundaries and re-encoded by the model's own
tokenizer.

Why edit the text and not the ids: the tokenizer decides how a phrase splits (`fastship` is
`fast ##ship` in one vocabulary, one token in another), adds the special tokens the model
expects ([CLS] ... [SEP], <s> ... </s>) and truncates at the model's maximum length, so an edit
made on the text and re-encoded is exactly what the model would read, and an edit can never
land on a special token or the padding. Which words are "the phrase" is decided by token ids
in context (`TextEncoder.segment`), so matching follows the tokenizer's normalization (an
uncased model's `FastShip` is the phrase; a cased model's is not).

Variants (docs/methods.md, "Text phrases"):
- `insert` (texts without the phrase where the model reads): the phrase at a random word
  boundary; nulls: `location_null`, the phrase at another boundary of the same text, and
  `content_null`, ordinary words of the data with the phrase's token count at the same place;
- `remove` and `swap` (texts carrying it): every occurrence deleted, or replaced by ordinary
  words of the same token count; nulls (`remove_location_null`, `swap_location_null`): the
  same edit on other words of the same token count elsewhere in the text, the phrase kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from audit.checks.spurious.probes import Variant, Variants
from audit.checks.spurious.spec import PhraseProbe
from audit.errors import DataError, SpecError
from audit.tokenization import TextEncoder, Word

MIN_CARRIERS = 10  # texts carrying the phrase needed for a removal or swap test
_DRAWS = 50  # attempts at a word sequence of an exact token count

Span = tuple[int, int]  # [first word, last word + 1)


@dataclass(frozen=True)
class Edited:
    """Edited texts with their encoding and, per text, the word spans the edit placed (the
    phrase for an artifact variant, its stand-in for a null; none for a removal)."""

    texts: list[str]
    ids: np.ndarray
    word_ids: np.ndarray
    marked: list[list[int]]  # per text: indices of the words the edit put in

    def token_mask(self) -> np.ndarray:
        """(n, L) boolean over the encoding: the tokens of the marked words."""
        mask = np.zeros(self.ids.shape, dtype=bool)
        for i, words in enumerate(self.marked):
            if words:
                mask[i] = np.isin(self.word_ids[i], words)
        return mask


@dataclass(frozen=True)
class _Text:
    """A sample text as the model reads it."""

    text: str
    words: list[Word]
    visible: int  # words wholly inside the model's maximum length
    occurrences: list[Span]  # non-overlapping runs of words that are the phrase

    def tokens_before(self) -> np.ndarray:
        return _tokens_before(self.words)


def _tokens_before(words: list[Word]) -> np.ndarray:
    """(W + 1,) tokens the words take before each word boundary."""
    return np.concatenate([[0], np.cumsum([len(w.ids) for w in words])]).astype(np.int64)


class PhraseEditor:
    """Edits one probe's phrase into and out of texts (see the module docstring)."""

    def __init__(self, probe: PhraseProbe, encoder: TextEncoder, texts: list[str]) -> None:
        self.phrase = probe.text.strip()
        self.encoder = encoder
        forms = encoder.segment([self.phrase, " " + self.phrase])  # at the start; mid-text
        self.patterns = {tuple(w.ids for w in form) for form in forms}
        self.length = len(forms[0])  # words
        self.tokens = sum(len(w.ids) for w in forms[0])
        self.budget = encoder.max_length - encoder.encode([""]).ids.shape[1]  # less specials
        if self.tokens > self.budget:
            raise SpecError(
                f"the phrase takes {self.tokens} tokens; the model reads at most {self.budget}.",
                where="checks.spurious.probes.text",
                fix="probe a shorter phrase.",
            )
        self.rows = [self._read(t, w) for t, w in zip(texts, encoder.segment(texts), strict=True)]
        self._vocab = self._vocabulary({i for p in self.patterns for w in p for i in w})

    def _read(self, text: str, words: list[Word]) -> _Text:
        visible = int(np.searchsorted(_tokens_before(words), self.budget, side="right")) - 1
        occurrences: list[Span] = []
        i = 0
        while i + self.length <= len(words):
            if tuple(w.ids for w in words[i : i + self.length]) in self.patterns:
                occurrences.append((i, i + self.length))
                i += self.length
            else:
                i += 1
        return _Text(text, words, visible, occurrences)

    def _vocabulary(self, phrase_ids: set[int]) -> tuple[list[tuple[str, int]], np.ndarray]:
        """Ordinary words of the data, (surface, token count) with their frequency: words
        with a letter or digit, no special token and no token of the phrase."""
        specials = set(self.encoder.special_ids) | {self.encoder.pad_id}
        counts: Counter[tuple[int, ...]] = Counter()
        surface: dict[tuple[int, ...], str] = {}
        for row in self.rows:
            for w in row.words:
                if not any(c.isalnum() for c in w.text) or set(w.ids) & (specials | phrase_ids):
                    continue
                counts[w.ids] += 1
                surface.setdefault(w.ids, w.text)
        if not counts:
            raise DataError(
                "the sampled texts have no ordinary words besides the phrase's, so the content "
                "null (other words in the same place) cannot be drawn.",
                where="data.text",
            )
        keys = sorted(counts)
        weights = np.array([counts[k] for k in keys], dtype=float)
        return [(surface[k], len(k)) for k in keys], weights / weights.sum()

    def carriers(self) -> np.ndarray:
        """Whether each text carries the phrase where the model reads it."""
        return np.array(
            [any(b <= r.visible for _, b in r.occurrences) for r in self.rows], dtype=bool
        )

    def ordinary_words(self, tokens: int, rng: np.random.Generator) -> str:
        """Words of the data drawn with their frequency, `tokens` tokens in all."""
        words, p = self._vocab
        sizes = np.array([n for _, n in words])
        for _ in range(_DRAWS):
            left, picked = tokens, []
            while left > 0:
                fits = sizes <= left
                if not fits.any():
                    break
                q = np.where(fits, p, 0.0)
                j = int(rng.choice(len(words), p=q / q.sum()))
                picked.append(words[j][0])
                left -= int(sizes[j])
            if left == 0:
                return " ".join(picked)
        raise DataError(
            f"no sequence of the data's words takes exactly {tokens} tokens, so the content "
            "null cannot match the phrase's length.",
            where="data.text",
        )

    # ------------------------------------------------------------ insertion

    def boundaries(self, row: _Text) -> list[int]:
        """Word indices the phrase can go before (len(words): at the end) so that all of it
        stays inside the model's maximum length: the text's start, its end, and every word
        that follows whitespace (never inside a word, never before punctuation)."""
        before = row.tokens_before()
        out = []
        for k in range(row.visible + 1):
            if before[k] + self.tokens > self.budget:
                break
            if k in (0, len(row.words)) or row.words[k - 1].span[1] < row.words[k].span[0]:
                out.append(k)
        return out or [0]

    def insert(self, rows: np.ndarray, at: list[int], content: list[str]) -> Edited:
        """`content[i]` placed before word `at[i]` of text `rows[i]`."""
        texts, spans = [], []
        for r, k, piece in zip(rows, at, content, strict=True):
            row = self.rows[int(r)]
            cut = len(row.text) if k >= len(row.words) else row.words[k].span[0]
            left, right = row.text[:cut], row.text[cut:]
            lead = left + (" " if left and not left[-1].isspace() else "")
            texts.append(lead + piece + (" " if right and not right[0].isspace() else "") + right)
            spans.append([(len(lead), len(lead) + len(piece))])
        return self._encode(texts, spans)

    # ------------------------------------------------------------ removal and swap

    def elsewhere(self, r: int, rng: np.random.Generator) -> list[Span]:
        """For each occurrence, a run of other words (not the phrase, not punctuation) of the
        phrase's token count, at random where the model reads; the closest count when none
        matches, none when the text has no other word."""
        row = self.rows[r]
        # punctuation is not a word to remove or replace
        taken = np.array([not any(c.isalnum() for c in w.text) for w in row.words], dtype=bool)
        for a, b in row.occurrences:
            taken[a:b] = True
        before = row.tokens_before()
        runs: list[Span] = []
        for _ in row.occurrences:
            options = [
                (abs(int(before[j] - before[i]) - self.tokens), i, j)
                for i in range(row.visible)
                for j in range(i + 1, min(i + self.tokens, row.visible) + 1)
                if not taken[i:j].any() and before[j] - before[i] <= self.tokens
            ]
            if not options:
                break
            best = min(o[0] for o in options)
            choices = [(i, j) for d, i, j in options if d == best]
            i, j = choices[int(rng.integers(len(choices)))]
            taken[i:j] = True
            runs.append((i, j))
        return runs

    def replace(self, rows: np.ndarray, runs: list[list[Span]], content: list[str]) -> Edited:
        """In text `rows[i]`, each run of words in `runs[i]` replaced by `content[i]` (an empty
        string deletes the run with the whitespace after it, else before it)."""
        texts, spans = [], []
        for r, row_runs, piece in zip(rows, runs, content, strict=True):
            row = self.rows[int(r)]
            text = row.text
            placed: list[tuple[int, int]] = []
            for a, b in sorted(row_runs, reverse=True):  # right to left: spans stay valid
                start, end = row.words[a].span[0], row.words[b - 1].span[1]
                if not piece:
                    tail = len(text[end:]) - len(text[end:].lstrip())
                    if tail:
                        end += tail
                    else:
                        start -= len(text[:start]) - len(text[:start].rstrip())
                text = text[:start] + piece + text[end:]
                placed = [
                    (s + len(piece) - (end - start), e + len(piece) - (end - start))
                    for s, e in placed
                ]
                placed.append((start, start + len(piece)))
            texts.append(text)
            spans.append(placed if piece else [])
        return self._encode(texts, spans)

    def _encode(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> Edited:
        """Encode edited texts; mark the words inside each text's placed character spans."""
        enc = self.encoder.encode(texts)
        marked = []
        for words, placed in zip(self.encoder.segment(texts), spans, strict=True):
            marked.append(
                [
                    i
                    for i, w in enumerate(words)
                    if any(a <= w.span[0] and w.span[1] <= b for a, b in placed)
                ]
            )
        return Edited(texts, enc.ids, enc.word_ids, marked)


def _variant(rows: np.ndarray, edited: Edited, masked: bool) -> Variant:
    """`masked`: the variant carries the mask of the words it placed, for attribution."""
    return Variant(
        rows,
        edited.ids,
        edited.token_mask() if masked else None,
        texts=tuple(edited.texts),
        word_ids=edited.word_ids,
        marked=tuple(tuple(m) for m in edited.marked),
    )


def phrase_variants(
    probe: PhraseProbe, encoder: TextEncoder, texts: list[str], rng: np.random.Generator
) -> Variants:
    """Insert, remove and swap the phrase, each with its nulls (module docstring)."""
    editor = PhraseEditor(probe, encoder, texts)
    carrier = editor.carriers()
    artifacts: dict[str, Variant] = {}
    nulls: dict[str, dict[str, Variant]] = {}
    clean = np.flatnonzero(~carrier)
    if clean.size:
        at, other = [], []
        for r in clean:
            places = editor.boundaries(editor.rows[int(r)])
            pick = rng.permutation(len(places))
            at.append(places[int(pick[0])])
            other.append(places[int(pick[1 if len(places) > 1 else 0])])
        phrase = [editor.phrase] * len(clean)
        words = [editor.ordinary_words(editor.tokens, rng) for _ in clean]
        artifacts["insert"] = _variant(clean, editor.insert(clean, at, phrase), True)
        nulls["insert"] = {
            "location_null": _variant(clean, editor.insert(clean, other, phrase), False),
            "content_null": _variant(clean, editor.insert(clean, at, words), False),
        }
    dirty = np.flatnonzero(carrier)
    if dirty.size >= MIN_CARRIERS:
        found = [editor.rows[int(r)].occurrences for r in dirty]
        away = [editor.elsewhere(int(r), rng) for r in dirty]
        words = [editor.ordinary_words(editor.tokens, rng) for _ in dirty]
        empty = [""] * len(dirty)
        artifacts["remove"] = _variant(dirty, editor.replace(dirty, found, empty), False)
        nulls["remove"] = {
            "location_null": _variant(dirty, editor.replace(dirty, away, empty), False)
        }
        artifacts["swap"] = _variant(dirty, editor.replace(dirty, found, words), True)
        nulls["swap"] = {
            "location_null": _variant(dirty, editor.replace(dirty, away, words), False)
        }
    return Variants(artifacts, nulls)
