"""Raw-text edit families: known answers with a fixed seed, what each family may change,
edit counts that grow with level, never an empty text, and seeded reproducibility."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checks.robustness._common import rng_for
from audit.checks.robustness.raw_text import perturb
from audit.checks.robustness.string_edits import (
    FAMILIES,
    QWERTY_NEIGHBOURS,
    Split,
    synonym_list,
)

TEXT = "The movie was GOOD, really good!  I would buy it again."
RATES = [0.01, 0.05, 0.1, 0.25, 0.5]
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

# A fixed seed's edits, read and checked by hand: each is what its family says it does.
KNOWN = {
    "typo": (
        "The movie was GOOD, really good!  K woulf uby it again.",
        [("I", "K"), ("would", "woulf"), ("buy", "uby")],  # i→k, d→f: neighbours; a swap
    ),
    "casing": (
        "The movie was GOOD, really good!  i WoUld Buy it again.",
        [("I", "i"), ("would", "WoUld"), ("buy", "Buy")],
    ),
    "whitespace_punctuation": (
        "The movie was GOOD, really good!  I  would  buy  it again.",
        [("I ", "I  "), ("would ", "would  "), ("buy ", "buy  ")],
    ),
    "word_drop": (
        "The movie was GOOD, really good!  it again.",
        [("I", ""), ("would", ""), ("buy", "")],
    ),
    "word_swap": (
        "movie The was really, GOOD good!  I would it buy again.",
        [("The movie", "movie The"), ("GOOD really", "really GOOD"), ("buy it", "it buy")],
    ),
    "synonym": (
        "The movie was GOOD, very nice!  I would purchase it again.",
        [("really", "very"), ("good", "nice"), ("buy", "purchase")],
    ),
}

_words = st.lists(st.sampled_from(["the", "Good", "movie", "BAD", "a", "x", "it's", "buy", "3"]),
                  min_size=1, max_size=30)  # fmt: skip
_seps = st.sampled_from([" ", "  ", ", ", ". ", "! ", "-", " (", ") "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    words = draw(_words)
    seps = [draw(_seps) for _ in words[1:]]
    return (
        words[0]
        + "".join(s + w for s, w in zip(seps, words[1:], strict=True))
        + draw(st.sampled_from(["", ".", "!", "?"]))
    )


def _run(family: str, text: str, rate: float, seed: int = 0) -> tuple[str, list]:
    return FAMILIES[family][0](text, rate, np.random.default_rng(seed))


@pytest.mark.parametrize("family", sorted(KNOWN))
def test_known_answers_with_a_fixed_seed(family: str) -> None:
    # 11 words at rate 0.25: round(2.75) = 3 edits
    assert _run(family, TEXT, 0.25, seed=7) == KNOWN[family]


def test_qwerty_neighbours_are_adjacent_keys_both_ways() -> None:
    assert set(QWERTY_NEIGHBOURS["s"]) == set("awedxz")
    assert set(QWERTY_NEIGHBOURS["q"]) == set("wa")
    assert set(QWERTY_NEIGHBOURS["m"]) == set("njk")
    for key, near in QWERTY_NEIGHBOURS.items():
        assert all(key in QWERTY_NEIGHBOURS[n] for n in near), key


def test_split_rebuilds_the_text() -> None:
    for text in (TEXT, "  leading", "?!", "it's   fine.", ""):
        assert Split.of(text).text() == text


@settings(max_examples=60, deadline=None)
@given(texts(), st.integers(0, 2**16))
def test_each_family_changes_only_what_it_says(text: str, seed: int) -> None:
    words = _WORD.findall(text)
    for family in FAMILIES:
        out, changes = _run(family, text, 0.3, seed)
        assert _WORD.findall(out), (family, text, out)  # never an empty text
        after = _WORD.findall(out)
        if family == "casing":
            assert out.casefold() == text.casefold()
            assert all(b != a and b.casefold() == a.casefold() for b, a in changes)
        elif family == "whitespace_punctuation":
            # letters and digits stay, in order; only spaces and punctuation move
            assert re.sub(r"\W", "", out) == re.sub(r"\W", "", text)
        elif family == "word_drop":
            assert len(after) == len(words) - len(changes) >= 1
            it = iter(words)
            assert all(w in it for w in after)  # a subsequence: order kept
        elif family == "word_swap":
            assert sorted(after) == sorted(words)
            assert all(b.split() == a.split()[::-1] for b, a in changes)
        elif family == "typo":
            assert len(after) == len(words)
            assert sum(b != a for b, a in zip(words, after, strict=True)) == len(changes)
            for b, a in changes:
                assert len(a) in (len(b), len(b) - 1) and a
        elif family == "synonym":
            for b, a in changes:
                assert a.lower() in synonym_list()[b.lower()]


@settings(max_examples=40, deadline=None)
@given(texts(), st.integers(0, 2**16))
def test_edit_count_grows_with_level_and_is_at_least_one(text: str, seed: int) -> None:
    for family in FAMILIES:
        counts = [len(_run(family, text, r, seed + s)[1]) for s, r in enumerate(RATES)]
        assert counts == sorted(counts), (family, text, counts)
        n = len(_WORD.findall(text))
        editable = {
            "typo": any(len(w) >= 2 or w.isalpha() for w in _WORD.findall(text)),
            "casing": any(c.isalpha() for c in text),
            "whitespace_punctuation": True,
            "word_drop": n >= 2,
            "word_swap": len(set(_WORD.findall(text))) >= 2,
            "synonym": any(w.lower() in synonym_list() for w in _WORD.findall(text)),
        }[family]
        assert (counts[0] >= 1) == editable, (family, text, counts)


def test_synonyms_come_only_from_the_bundled_list_and_keep_case() -> None:
    table = synonym_list()
    assert len(table) >= 300
    assert all(w == w.lower() and syns and w not in syns for w, syns in table.items())
    out, changes = _run("synonym", "Good GOOD good zebra", 1.0)
    assert [b for b, _ in changes] == ["Good", "GOOD", "good"]  # `zebra` is not on the list
    assert changes[0][1][0].isupper() and changes[1][1].isupper() and changes[2][1].islower()
    assert out.endswith(" zebra")


def test_texts_with_no_word_to_edit_are_left_alone() -> None:
    assert _run("synonym", "zebra quartz", 0.5) == ("zebra quartz", [])
    assert _run("word_drop", "alone.", 0.5) == ("alone.", [])
    assert _run("word_swap", "same same", 0.5) == ("same same", [])
    assert _run("casing", "1234 5678", 0.5) == ("1234 5678", [])


def test_same_seed_same_texts_and_one_stream_per_family_and_level() -> None:
    texts_ = [TEXT, "It's a fine film, I think.", "bad"]
    for family in FAMILIES:
        first = perturb(texts_, family, RATES, seed=11)
        assert perturb(texts_, family, RATES, seed=11) == first
        # level 3 drawn alone from its own stream gives the same texts
        rng = rng_for(11, family, 3)
        alone = [FAMILIES[family][0](t, RATES[2], rng) for t in texts_]
        assert alone == first[2]
    assert perturb(texts_, "typo", RATES, seed=12) != perturb(texts_, "typo", RATES, seed=11)
