"""Attention rollout on a Vision Transformer: where the [CLS] token's information came from.

Why a second map beside the gradient: a ViT's prediction is read from its [CLS] token, which
gathers the patches through attention, so the attention a ViT paid to a scanner tag is a
direct, gradient-free view of whether the tag reached the decision. Attention rollout
(Abnar & Zuidema 2020, "Quantifying attention flow in transformers") follows that path
through every layer: each layer's attention averaged over heads, the residual connection
added as an identity (A' = 0.5 A + 0.5 I, rows normalized to 1), the layers multiplied from
the first up; the [CLS] row over the patch tokens says how much of each patch the [CLS] token
holds at the top. Attention is not explanation: rollout knows nothing of the value vectors,
the MLPs or the classifier, so it is class-agnostic and blind to the layers above the last
attention (the explainer sanity check shows this). The check therefore reports it as
supporting evidence, through the same statistics as the gradient maps, and never judges it.

Each patch's value is spread evenly over its p x p pixels of the model's input grid and then
mapped to the raw canvas by the adjoint of the resize and crop (`Geometry.to_raw`), so a map's
total is the [CLS] token's share held by the patches at every step, and probe regions (given in
raw pixels) are compared with it as they are with gradient maps.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from audit.checks.spurious.attribution import ModelVariant, model_variant
from audit.loaders.huggingface import HFImageClassifier
from audit.loaders.model import ModelRunner
from audit.loaders.preprocess import Preprocessed

METHOD = "attention_rollout"  # the `method` subject key of its metrics
# Most bytes of attention weights one forward pass returns: every layer's (heads, T, T) per
# row, so a ViT-B/16 at 224 pixels (12 layers of 12 x 197 x 197) takes 12 rows per pass
ATTENTION_BYTES = 256 << 20


@dataclass(frozen=True)
class PatchGrid:
    """A ViT's token layout: one [CLS] token, then `rows` x `cols` patches of `patch` pixels;
    `row_bytes`, the attention weights one row returns (all layers), as measured."""

    patch: int
    rows: int
    cols: int
    row_bytes: int = 0

    @property
    def tokens(self) -> int:
        return 1 + self.rows * self.cols

    def rows_per_pass(self, requested: int) -> int:
        """`requested` rows, fewer when their attention weights would pass ATTENTION_BYTES."""
        return max(1, min(requested, ATTENTION_BYTES // max(1, self.row_bytes)))


def rollout(attentions: Sequence[torch.Tensor]) -> torch.Tensor:
    """The [CLS] row of the rolled-out attention over the patch tokens, (N, T - 1).

    `attentions`: one (N, heads, T, T) tensor per layer, first layer first, token 0 the [CLS].
    """
    joint: torch.Tensor | None = None
    for layer in attentions:
        mean = layer.mean(dim=1)
        eye = torch.eye(mean.shape[-1], dtype=mean.dtype, device=mean.device)
        mixed = 0.5 * mean + 0.5 * eye
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        joint = mixed if joint is None else mixed @ joint
    if joint is None:
        raise ValueError("attention rollout needs at least one layer's attention")
    return joint[:, 0, 1:]


def patches_to_pixels(values: torch.Tensor, grid: PatchGrid, size: tuple[int, int]) -> torch.Tensor:
    """(N, rows * cols) patch values as a (N, 1, h, w) map over the model's input grid, each
    patch's value shared evenly by its p x p pixels (so the total is kept); pixels the patch
    embedding never reads (a remainder of the grid under one patch) get zero."""
    n, p = len(values), grid.patch
    per_pixel = values.reshape(n, grid.rows, grid.cols) / (p * p)
    spread = per_pixel.repeat_interleave(p, dim=1).repeat_interleave(p, dim=2)
    out = torch.zeros((n, 1, *size), dtype=values.dtype, device=values.device)
    out[:, 0, : grid.rows * p, : grid.cols * p] = spread
    return out


def _attentions(module: Preprocessed, raw: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
    """Every layer's attention of the wrapped transformers model on raw pixels (eager
    attention returns them; an implementation that does not gives None)."""
    assert isinstance(module.net, HFImageClassifier)
    with torch.no_grad():
        out = module.net.model(pixel_values=module.preprocess(raw), output_attentions=True)
    found = getattr(out, "attentions", None)
    return tuple(found) if found else None


def _takes_output_attentions(model: torch.nn.Module) -> bool:
    params = inspect.signature(model.forward).parameters.values()
    return any(
        p.name == "output_attentions" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params
    )


def patch_grid(runner: ModelRunner, probe_rows: np.ndarray) -> PatchGrid | None:
    """The model's patch grid when rollout applies to it, else None (then nothing is added).

    It applies to a Hugging Face image classifier behind its preprocessing whose config has a
    square `patch_size` and whose forward returns, for `probe_rows` (a row of the data), one
    square attention per layer over exactly [CLS] + the patch grid: a distillation token
    (DeiT), windowed attention (Swin) or a model without attention (ResNet) fails the test.
    """
    module = runner.module
    if not (isinstance(module, Preprocessed) and isinstance(module.net, HFImageClassifier)):
        return None
    model = module.net.model
    patch = getattr(getattr(model, "config", None), "patch_size", None)
    if isinstance(patch, list | tuple) and len(set(patch)) == 1:
        patch = patch[0]
    if not isinstance(patch, int) or patch < 1 or not _takes_output_attentions(model):
        return None
    height, width = module.preprocess.geometry.output_size
    grid = PatchGrid(patch, height // patch, width // patch)
    if grid.rows == 0 or grid.cols == 0 or len(probe_rows) == 0:
        return None
    attentions = _attentions(module, runner.as_tensor(probe_rows))
    square = (grid.tokens, grid.tokens)
    if attentions is None or any(a.ndim != 4 or tuple(a.shape[-2:]) != square for a in attentions):
        return None
    row_bytes = sum(a.numel() * a.element_size() for a in attentions) // len(probe_rows)
    return PatchGrid(grid.patch, grid.rows, grid.cols, row_bytes)


def rollout_slice(
    model: ModelRunner,
    rows: slice,
    *,
    grid: PatchGrid,
    variant: ModelVariant,
    seed: int,
    sanity_layers: int,
    batch_size: int,
    x: np.ndarray,
) -> np.ndarray:
    """The shard function: rollout maps (n, H, W) on the raw canvas of rows `rows` of the
    sample, on `variant` (the randomized copy is the gradient sanity check's own)."""
    runner = model_variant(model, variant, seed, sanity_layers)
    module = runner.module
    assert isinstance(module, Preprocessed)
    geometry = module.preprocess.geometry
    maps = []
    for start in range(0, len(x), batch_size):
        attentions = _attentions(module, runner.as_tensor(x[start : start + batch_size]))
        assert attentions is not None  # `patch_grid` saw them on this model
        on_grid = patches_to_pixels(rollout(attentions), grid, geometry.output_size)
        maps.append(geometry.to_raw(on_grid)[:, 0].cpu().numpy())
    return np.concatenate(maps) if maps else np.zeros((0, *x.shape[-2:]), dtype=np.float32)


__all__ = ["METHOD", "PatchGrid", "patch_grid", "patches_to_pixels", "rollout", "rollout_slice"]
