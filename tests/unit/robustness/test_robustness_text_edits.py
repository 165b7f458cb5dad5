"""Token edits: exact counts, order and multiset invariants, both padding sides."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checks.robustness.text import (
    adjacent_swap,
    make_insert,
    neutral_tokens,
    pack,
    token_drop,
    unpack,
)

PAD = 0


def _batch(lengths: list[int], width: int, left: bool = False) -> np.ndarray:
    x = np.full((len(lengths), width), PAD, dtype=np.int64)
    for i, n in enumerate(lengths):
        toks = np.arange(1, n + 1) + 10 * i
        if left:
            x[i, width - n :] = toks
        else:
            x[i, :n] = toks
    return x


def _rows(tokens: np.ndarray, lengths: np.ndarray) -> list[list[int]]:
    return [t[:n].tolist() for t, n in zip(tokens, lengths, strict=True)]


def test_pack_unpack_roundtrip_on_both_padding_sides() -> None:
    for left in (False, True):
        x = _batch([3, 5, 1, 6], 6, left=left)
        tokens, lengths, is_left = pack(x, PAD)
        assert is_left == left
        assert lengths.tolist() == [3, 5, 1, 6]
        np.testing.assert_array_equal(unpack(tokens, lengths, PAD, left), x)


def test_drop_removes_the_right_count_and_keeps_order() -> None:
    tokens, lengths, _ = pack(_batch([10, 4, 1], 10), PAD)
    out, new = token_drop(tokens, lengths, 0.3, np.random.default_rng(0))
    assert new.tolist() == [7, 3, 1]  # round(0.3·n) but at least 1, and never the last token
    for before, after in zip(_rows(tokens, lengths), _rows(out, new), strict=True):
        assert after == [t for t in before if t in set(after)]


def test_swap_keeps_the_tokens_and_moves_some() -> None:
    tokens, lengths, _ = pack(_batch([8, 2, 1], 8), PAD)
    out, new = adjacent_swap(tokens, lengths, 0.25, np.random.default_rng(3))
    assert new.tolist() == lengths.tolist()
    for before, after in zip(_rows(tokens, lengths), _rows(out, new), strict=True):
        assert Counter(before) == Counter(after)
        if len(before) > 1:
            assert before != after
            moved = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
            neighbours = [set(before[max(0, i - 1) : i + 2]) - {before[i]} for i in moved]
            assert all(after[i] in near for i, near in zip(moved, neighbours, strict=True))


def test_insert_adds_neutral_tokens_and_truncates_full_rows() -> None:
    tokens, lengths, _ = pack(_batch([4, 8], 8), PAD)
    out, new = make_insert(np.array([99]))(tokens, lengths, 0.5, np.random.default_rng(1))
    assert new.tolist() == [6, 8]
    rows = _rows(out, new)
    assert [t for t in rows[0] if t != 99] == _rows(tokens, lengths)[0]
    assert rows[0].count(99) == 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 12), min_size=1, max_size=6),
    st.floats(0.01, 0.6),
    st.integers(0, 2**32 - 1),
)
def test_edits_keep_shape_and_pads_after_the_length(lengths, rate, seed) -> None:
    tokens, lens, _ = pack(_batch(lengths, 12), PAD)
    for edit in (token_drop, adjacent_swap, make_insert(np.array([77, 78]))):
        out, new = edit(tokens, lens, rate, np.random.default_rng(seed))
        assert out.shape == tokens.shape
        packed = unpack(out, new, PAD, False)
        assert ((packed != PAD).sum(axis=1) == new).all()


def test_neutral_tokens_default_to_the_most_frequent_ids() -> None:
    x = np.array([[5, 5, 5, 7, 0], [7, 9, 5, 0, 0]])
    assert neutral_tokens(x, 0, [])[:2].tolist() == [5, 7]
    assert neutral_tokens(x, 0, [3]).tolist() == [3]
