"""Property: the bootstrap's vectorized NaN-aware quantile is numpy's `nanquantile`, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from audit.stats import nanquantile_rows

VALUES = st.one_of(st.just(np.nan), st.floats(-5, 5, allow_nan=False), st.sampled_from([0.0, 1.0]))


@st.composite
def samples(draw):
    rows, cols = draw(st.integers(1, 20)), draw(st.integers(1, 60))
    x = draw(arrays(np.float64, (rows, cols), elements=VALUES))
    x[:, 0] = np.where(np.isnan(x[:, 0]), 0.5, x[:, 0])  # every row holds a number
    return x[:, np.random.default_rng(draw(st.integers(0, 99))).permutation(cols)]


@settings(max_examples=300, deadline=None)
@given(samples(), st.sampled_from([0.95, 0.99, 0.9, 0.5, 0.999]))
def test_equals_numpy_nanquantile(x, confidence):
    qs = ((1 - confidence) / 2, 1 - (1 - confidence) / 2)
    np.testing.assert_array_equal(nanquantile_rows(x, qs), np.nanquantile(x, qs, axis=-1))


def test_extreme_quantiles_are_the_extremes():
    x = np.array([[3.0, np.nan, 1.0, 2.0]])
    np.testing.assert_array_equal(nanquantile_rows(x, (0.0, 1.0)), [[1.0], [3.0]])
