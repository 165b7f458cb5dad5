"""Shard slicing and shard-function names: the contract between checks and orchestrators."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.checks.rows import (
    BAD_FUNCTION,
    function_ref,
    predict_slice,
    resolve,
    run_slices,
    shard_slices,
)
from audit.errors import SpecError


@given(st.integers(0, 5_000), st.integers(1, 300), st.integers(1, 16))
def test_slices_cover_every_row_once_on_batch_boundaries(n: int, align: int, shards: int) -> None:
    slices = shard_slices(n, align, shards)
    assert slices[0].start == 0 and slices[-1].stop == n
    assert all(a.stop == b.start for a, b in itertools.pairwise(slices))
    assert len(slices) <= shards
    assert all(s.start % align == 0 for s in slices)
    assert n == 0 or all(s.stop > s.start for s in slices)


def test_slices_use_every_shard_they_can() -> None:
    assert shard_slices(10, 3, 2) == [slice(0, 6), slice(6, 10)]
    assert shard_slices(5, 8, 4) == [slice(0, 5)]
    assert len(shard_slices(100, 1, 4)) == 4


def _local() -> None:
    """A module-level function other than a shard function, for the name round trip."""


def test_functions_travel_by_name_and_closures_are_refused() -> None:
    assert function_ref(predict_slice) == "audit.checks.rows:predict_slice"
    assert resolve(function_ref(predict_slice)) is predict_slice
    assert resolve(function_ref(_local)) is _local
    with pytest.raises(ValueError, match="module level"):
        function_ref(lambda model, rows: None)
    with pytest.raises(SpecError) as err:
        resolve("audit.checks.rows:nope")
    assert err.value.args[0] == BAD_FUNCTION.format(ref="audit.checks.rows:nope")


def test_run_slices_cuts_the_arrays_and_passes_the_place() -> None:
    def fn(model, rows, *, scale, x):
        return (rows.start, x * scale)

    out = run_slices(None, fn, shard_slices(5, 2, 2), {"scale": 10}, {"x": np.arange(5)})
    assert [start for start, _ in out] == [0, 4]
    np.testing.assert_array_equal(np.concatenate([v for _, v in out]), np.arange(5) * 10)
