"""Attention rollout (audit/checks/spurious/rollout.py): known answers on hand-built attention
stacks, mass kept from patches to model pixels to raw pixels, which models it applies to, and,
through the whole check on a tiny ViT, rollout's metrics beside the gradient's without changing
a single gradient number or reaching the metrics the policy judges."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from audit.checks.spurious import SpuriousPlugin, rollout
from audit.checks.spurious.check import SpuriousCheck
from audit.checks.spurious.evidence import ImageExample, SpuriousEvidence
from audit.checks.spurious.rollout import PatchGrid, patch_grid, patches_to_pixels
from audit.loaders.huggingface import HFImageClassifier
from audit.loaders.model import ModelRunner
from audit.loaders.preprocess import Geometry, Preprocess, Preprocessed
from audit.records import SUBJECT_KEYS
from audit.spec import Preprocessing

T = 5  # [CLS] + a 2 x 2 patch grid


def _stack(layers: int, heads: int, rows: dict[int, torch.Tensor] | None = None) -> list:
    """`layers` attention tensors (1, heads, T, T): identity, with the given rows replaced."""
    a = torch.eye(T, dtype=torch.float64).repeat(1, heads, 1, 1)
    for i, row in (rows or {}).items():
        a[0, :, i] = row
    return [a.clone() for _ in range(layers)]


def test_identity_attention_keeps_everything_on_the_cls_token() -> None:
    assert torch.equal(rollout.rollout(_stack(3, 2))[0], torch.zeros(T - 1, dtype=torch.float64))


def test_uniform_attention_spreads_evenly_over_the_patches() -> None:
    uniform = [torch.full((1, 2, T, T), 1 / T, dtype=torch.float64) for _ in range(3)]
    out = rollout.rollout(uniform)[0]
    torch.testing.assert_close(out, torch.full((T - 1,), float(out[0]), dtype=torch.float64))
    assert 0 < float(out.sum()) < 1  # the residual keeps a share on the [CLS] token


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_cls_attending_only_to_patch_k_puts_all_patch_mass_on_it(layers: int) -> None:
    k = 2  # patch tokens are 1..4; patch k is token k + 1
    only_k = torch.zeros(T, dtype=torch.float64)
    only_k[k + 1] = 1.0
    out = rollout.rollout(_stack(layers, 2, {0: only_k}))[0]
    expected = torch.zeros(T - 1, dtype=torch.float64)
    # each layer keeps half of [CLS] on itself and moves half to patch k, which keeps its own
    expected[k] = 1 - 0.5**layers
    torch.testing.assert_close(out, expected)


def test_heads_are_averaged_before_the_residual() -> None:
    """One head looks at patch 0, the other at itself: A' row 0 = 0.75 [CLS] + 0.25 patch 0."""
    a = torch.eye(T, dtype=torch.float64).repeat(1, 2, 1, 1)
    a[0, 0, 0] = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    out = rollout.rollout([a])[0]
    torch.testing.assert_close(out, torch.tensor([0.25, 0, 0, 0], dtype=torch.float64))


def test_patch_values_spread_over_their_pixels_and_back_to_raw_keep_their_total() -> None:
    grid = PatchGrid(patch=4, rows=8, cols=8)
    values = torch.rand((3, 64), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    on_grid = patches_to_pixels(values, grid, (34, 33))  # a remainder the embedding never reads
    assert on_grid.shape == (3, 1, 34, 33)
    torch.testing.assert_close(on_grid.sum(dim=(1, 2, 3)), values.sum(dim=1))
    assert torch.equal(on_grid[:, :, 32:], torch.zeros_like(on_grid[:, :, 32:]))
    patch_9 = on_grid[:, 0, 4:8, 4:8]  # row 1, col 1 of the grid
    torch.testing.assert_close(patch_9, values[:, 9, None, None].expand(3, 4, 4) / 16)
    geometry = Geometry.of(Preprocessing(resize=40, center_crop=32), (50, 60))
    on_grid = patches_to_pixels(values, grid, geometry.output_size)
    raw = geometry.to_raw(on_grid)
    assert raw.shape == (3, 1, 50, 60)
    torch.testing.assert_close(raw.sum(dim=(1, 2, 3)), values.sum(dim=1))


def _vit(eager: bool = True) -> nn.Module:
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(
        image_size=16,
        patch_size=4,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
    )
    config._attn_implementation = "eager" if eager else "sdpa"
    torch.manual_seed(0)
    return ViTForImageClassification(config).eval()


def _runner(net: nn.Module, canvas: tuple[int, int] = (16, 16), **prep: object) -> ModelRunner:
    spec = Preprocessing(mean=[0.5] * 3, std=[0.5] * 3, **prep)  # type: ignore[arg-type]
    module = Preprocessed(net, Preprocess(spec, canvas)).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return ModelRunner(module, "binary", "logits", 0.5, "cpu")


def test_rollout_applies_to_a_vit_behind_its_preprocessing_only() -> None:
    from transformers import ResNetConfig, ResNetForImageClassification

    row = np.zeros((1, 3, 24, 20), dtype=np.float32)
    vit = _runner(HFImageClassifier(_vit()), (24, 20), resize=16, center_crop=16)
    found = patch_grid(vit, row)
    # two layers of two heads over [CLS] + 16 patches, float32
    assert found == PatchGrid(4, 4, 4, row_bytes=2 * 2 * 17 * 17 * 4)
    assert found.rows_per_pass(64) == 64 and found.tokens == 17
    assert PatchGrid(16, 14, 14, row_bytes=12 * 12 * 197 * 197 * 4).rows_per_pass(64) == 12
    resnet = ResNetForImageClassification(
        ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8], depths=[1], num_labels=2)
    )
    conv = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    for net in (HFImageClassifier(resnet.eval()), conv, HFImageClassifier(_vit(eager=False))):
        assert patch_grid(_runner(net, (24, 20), resize=16, center_crop=16), row) is None
    bare = ModelRunner(_vit(), "binary", "logits", 0.5, "cpu")  # no preprocessing around it
    assert patch_grid(bare, row) is None


@pytest.fixture
def audited(tiny: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The check on a tiny ViT (a white corner in the images of class 1), with rollout and with
    rollout switched off."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.5, size=(60, 3, 16, 16)).astype(np.float32)
    y = (np.arange(60) % 2).astype(np.int64)
    x[y == 1, :, :4, :4] = 1.0
    runner = _runner(HFImageClassifier(_vit()))
    config = {
        "probes": [{"type": "patch", "region": [0, 0, 4, 4], "value": 1.0, "name": "corner"}],
        "method": "saliency",
        "sample": 40,
        "n_boot": 50,
        "location_nulls": 3,
        "examples": 2,
    }
    ctx = tiny.context(runner.module, x, y, modality="image", **config)
    with_rollout = SpuriousCheck().measure(ctx)
    monkeypatch.setattr(rollout, "patch_grid", lambda *_: None)
    return SimpleNamespace(on=with_rollout, off=SpuriousCheck().measure(ctx))


def test_rollout_changes_no_gradient_number_and_adds_no_judged_metric(audited) -> None:
    assert [m.to_json() for m in audited.on.metrics] == [m.to_json() for m in audited.off.metrics]
    assert all(m.method != rollout.METHOD for m in audited.on.metrics)
    off = audited.off.evidence
    assert (off.supporting, off.rollout_examples, off.rollout_sanity_spearman) == ((), (), None)


def test_rollout_metrics_mirror_the_gradient_ones_under_their_own_method(audited) -> None:
    ev = audited.on.evidence
    assert isinstance(ev, SpuriousEvidence)
    supporting = ev.supporting
    assert {m.method for m in supporting} == {rollout.METHOD}
    gradient = {
        (m.name, m.probe, m.perturbation, m.n)
        for m in audited.on.metrics
        if m.method == "saliency" and m.name != "convergence_delta"
    }
    assert {(m.name, m.probe, m.perturbation, m.n) for m in supporting} == gradient
    catalogue = {info.name: info.subject for info in SpuriousPlugin.catalogue}
    for m in supporting:
        keys = {k for k in SUBJECT_KEYS if getattr(m, k) is not None}
        assert "method" in keys and keys <= set(catalogue[m.name]), m
    sanity = next(m for m in supporting if m.name == "sanity_rank_correlation")
    assert sanity.value == ev.rollout_sanity_spearman
    # the randomized layers (the classifier, the last MLP) lie above the last attention
    assert sanity.value == pytest.approx(1.0)
    share = next(m for m in supporting if m.name == "attribution_mass_ratio")
    assert 0 < share.value < 1
    assert len(ev.rollout_examples) == len(ev.examples) == 2
    for grad, rolled in zip(ev.examples, ev.rollout_examples, strict=True):
        assert isinstance(rolled, ImageExample) and isinstance(grad, ImageExample)
        assert np.array_equal(rolled.image, grad.image) and rolled.region == grad.region
        assert rolled.attribution.shape == (16, 16) and (rolled.attribution >= 0).all()
