"""Controlled inputs: the artifact lands where declared, and each null differs as designed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.checks.spurious import probes
from audit.checks.spurious.spec import FeatureProbe, PatchProbe, TokenProbe
from audit.errors import SpecError


def _images(n: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 0.5, (n, 1, 8, 8)).astype(np.float32)


def test_patch_insert_changes_only_the_region() -> None:
    x = _images()
    v = probes.image_variants(
        PatchProbe(type="patch", region=[1, 2, 2, 3], value=1.0), x, 4, np.random.default_rng(0)
    )
    ins = v.artifacts["insert"]
    assert np.all(ins.x[:, :, 1:3, 2:5] == 1.0)
    outside = ~probes.region_mask((8, 8), 1, 2, 2, 3)
    assert np.array_equal(ins.x[:, 0][:, outside], x[ins.rows, 0][:, outside])
    assert ins.mask.shape == (len(ins.rows), 64) and ins.mask[0].sum() == 6


def test_location_null_moves_the_same_patch_off_the_region() -> None:
    x = _images()
    v = probes.image_variants(
        PatchProbe(type="patch", region=[0, 0, 2, 2], value=1.0), x, 8, np.random.default_rng(0)
    )
    moved = v.nulls["insert"]["location_null"].x
    assert np.array_equal(moved[:, :, :2, :2], x[:, :, :2, :2])  # region untouched
    assert np.all((moved == 1.0).sum(axis=(1, 2, 3)) == 4)  # the same 2x2 patch, elsewhere
    assert all(not (m & probes.region_mask((8, 8), 0, 0, 2, 2).ravel()).any() for m in v.null_masks)


def test_content_null_fills_the_region_with_other_values() -> None:
    x = _images()
    v = probes.image_variants(
        PatchProbe(type="patch", region=[0, 0, 2, 2], value=1.0), x, 8, np.random.default_rng(0)
    )
    region = v.nulls["insert"]["content_null"].x[:, :, :2, :2]
    assert region.min() >= x.min() and region.max() <= x.max()
    assert not np.allclose(region, 1.0)


def test_removal_runs_on_carriers_with_background_content() -> None:
    x = _images()
    x[:20, :, :2, :2] = 1.0
    v = probes.image_variants(
        PatchProbe(type="patch", region=[0, 0, 2, 2], value=1.0), x, 8, np.random.default_rng(0)
    )
    assert set(v.artifacts) == {"insert", "remove"}
    assert np.array_equal(v.artifacts["remove"].rows, np.arange(20))
    assert v.artifacts["remove"].x[:, :, :2, :2].max() < 1.0
    assert np.array_equal(v.artifacts["insert"].rows, np.arange(20, 40))


def test_region_outside_the_image_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="does not fit"):
        probes.image_variants(
            PatchProbe(type="patch", region=[7, 7, 2, 2], value=1.0),
            _images(),
            4,
            np.random.default_rng(0),
        )


def test_pattern_file(tmp_path) -> None:
    pattern = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    np.save(tmp_path / "p.npy", pattern)
    probe = PatchProbe(type="patch", region=[0, 0, 2, 2], pattern=tmp_path / "p.npy")
    v = probes.image_variants(probe, _images(), 4, np.random.default_rng(0))
    assert np.array_equal(v.artifacts["insert"].x[0, 0, :2, :2], pattern)


def test_insert_tokens_known_answer() -> None:
    x = np.array([[5, 6, 7, 0, 0], [5, 6, 7, 8, 9]])
    out = probes._insert_tokens(x, np.array([1]), np.array([[1], [0]]), pad_id=0)
    assert out.tolist() == [[5, 1, 6, 7, 0], [1, 5, 6, 7, 8]]


@given(st.lists(st.integers(2, 9), min_size=1, max_size=6), st.integers(0, 6), st.data())
def test_insert_tokens_keeps_the_text_in_order(words: list[int], pad: int, data) -> None:
    length = len(words) + pad + 2
    x = np.zeros((1, length), dtype=np.int64)
    x[0, : len(words)] = words
    pos = np.array(
        [sorted(data.draw(st.lists(st.integers(0, len(words)), min_size=2, max_size=2)))]
    )
    out = probes._insert_tokens(x, np.array([1, 1]), pos, pad_id=0)[0]
    assert [t for t in out if t not in (0, 1)] == words
    assert (out == 1).sum() == 2


def test_token_probe_mask_marks_the_inserted_tokens() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((30, 12), dtype=np.int64)
    x[:, :8] = rng.integers(2, 20, (30, 8))
    v = probes.text_variants(TokenProbe(type="token", tokens=[1, 1]), x, 0, rng)
    ins = v.artifacts["insert"]
    assert np.all(ins.x[ins.mask] == 1)
    assert np.all(ins.mask.sum(axis=1) == 2)
    null = v.nulls["insert"]["content_null"].x
    assert not np.any(null == 1)
    assert np.array_equal(null != 0, ins.x != 0)  # other tokens at the same places
    assert "location_null" not in v.nulls["insert"]


def test_feature_variants() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    x[:, 1] = rng.integers(0, 3, 50)
    v = probes.feature_variants(FeatureProbe(type="feature", feature="b"), x, ("a", "b", "c"), rng)
    assert sorted(v.artifacts["permute"].x[:, 1]) == sorted(x[:, 1])
    assert np.all(v.artifacts["swap"].x[:, 1] != x[:, 1])
    assert set(np.unique(v.artifacts["swap"].x[:, 1])) <= {0.0, 1.0, 2.0}
    assert np.all(v.artifacts["reference"].x[:, 1] == np.median(x[:, 1]))
    for art in v.artifacts.values():
        assert np.array_equal(np.delete(art.x, 1, axis=1), np.delete(x, 1, axis=1))
    assert v.nulls == {"permute": {}, "swap": {}, "reference": {}}


def test_unknown_feature_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="not one of the model's features"):
        probes.feature_variants(
            FeatureProbe(type="feature", feature="zip"),
            np.zeros((5, 2)),
            ("a", "b"),
            np.random.default_rng(0),
        )
