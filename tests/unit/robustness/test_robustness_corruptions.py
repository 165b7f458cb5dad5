"""Image corruptions: seeded, shape- and range-preserving, growing with level."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from audit.checks.robustness.image import CORRUPTIONS, LEVELS, corrupt, value_range


def _images(lo: float, hi: float, channels: int) -> np.ndarray:
    """Smooth gradients plus texture: natural-ish content the codec and blur act on."""
    rng = np.random.default_rng(0)
    h = w = 20
    ramp = np.linspace(0.2, 0.8, h)[:, None] * np.linspace(0.3, 0.9, w)[None, :]
    x = ramp[None, None] + 0.1 * rng.standard_normal((6, channels, h, w))
    x = np.clip(x, 0, 1)
    return (lo + x * (hi - lo)).astype(np.float32)


RANGES = [(0.0, 1.0, 1), (0.0, 255.0, 3), (-1.0, 1.0, 2)]


@pytest.mark.parametrize("family", sorted(CORRUPTIONS))
@pytest.mark.parametrize(("lo", "hi", "channels"), RANGES)
def test_shape_dtype_and_range_are_preserved(family: str, lo: float, hi: float, channels: int):
    x = _images(lo, hi, channels)
    bounds = value_range(x)
    for s in LEVELS:
        out = corrupt(x, family, s, np.random.default_rng(1), bounds)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert out.min() >= bounds[0] - 1e-5 and out.max() <= bounds[1] + 1e-5


@pytest.mark.parametrize("family", sorted(CORRUPTIONS))
def test_deterministic_under_a_seed(family: str) -> None:
    x = _images(0.0, 1.0, 3)
    a = corrupt(x, family, 3, np.random.default_rng(42), value_range(x))
    b = corrupt(x, family, 3, np.random.default_rng(42), value_range(x))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("family", sorted(CORRUPTIONS))
@pytest.mark.parametrize(("lo", "hi", "channels"), RANGES)
def test_mean_absolute_change_grows_with_level(
    family: str, lo: float, hi: float, channels: int
) -> None:
    x = _images(lo, hi, channels)
    change = [
        float(np.abs(corrupt(x, family, s, np.random.default_rng(7), value_range(x)) - x).mean())
        for s in LEVELS
    ]
    assert all(b >= a for a, b in itertools.pairwise(change)), change
    assert change[-1] > change[0] > 0


def test_a_constant_dataset_gets_a_unit_range() -> None:
    assert value_range(np.full((2, 1, 4, 4), 3.0)) == (3.0, 4.0)
