"""Attention heads of a Hugging Face encoder, reached with plain torch hooks.

Every attention block of BERT-family encoders (BERT, RoBERTa: `*Attention.output.dense`) and
DistilBERT (`MultiHeadSelfAttention.out_lin`) ends in one linear projection whose input is the
heads' contexts side by side, `(batch, length, heads * head_dim)`. A forward pre-hook on that
projection sees each head's output before the heads are mixed, so one hook per layer can
ablate a head (replace its slice), patch it (copy the slice from another run) or record it,
without touching the model's code or weights. Why hooks and not nnsight or TransformerLens:
the edit is one slice assignment per layer, TransformerLens does not load
`*ForSequenceClassification` models, and hooks leave the audited module exactly as shipped.

`HeadRunner` runs the model on token ids in batches (no loop over examples) under one
`Edit` per call: the whole sample with the same heads ablated or patched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from audit.loaders.huggingface import HFTextClassifier
from audit.loaders.model import ModelRunner

Head = tuple[int, int]  # (layer, head), both from 0


@dataclass(frozen=True)
class Site:
    """One attention layer: the output projection whose input holds the heads' contexts."""

    layer: int
    projection: nn.Linear
    n_heads: int

    @property
    def head_dim(self) -> int:
        return self.projection.in_features // self.n_heads


def find_sites(module: nn.Module) -> list[Site] | str:
    """The attention layers of a Hugging Face encoder in depth order, or why there are none."""
    if not isinstance(module, HFTextClassifier):
        return (
            "head ablation reaches attention heads of a Hugging Face encoder (BERT, RoBERTa, "
            "DistilBERT); this model is not one"
        )
    sites: list[Site] = []
    for sub in module.model.modules():
        inner, out = getattr(sub, "self", None), getattr(sub, "output", None)
        heads = getattr(inner, "num_attention_heads", None)
        dense = getattr(out, "dense", None)
        if heads is not None and isinstance(dense, nn.Linear):
            sites.append(Site(len(sites), dense, int(heads)))  # BERT, RoBERTa
        elif isinstance(getattr(sub, "out_lin", None), nn.Linear) and hasattr(sub, "n_heads"):
            sites.append(Site(len(sites), sub.out_lin, int(sub.n_heads)))  # DistilBERT
    if not sites:
        return f"no attention layers of a known kind in {type(module.model).__name__}"
    return sites


@dataclass
class Edit:
    """What one call changes, per layer (all rows of the call alike).

    `ablate`: heads replaced by `means[layer]` (positions, heads * head_dim), or by zero when
    `means` is None. `patch`: heads copied from `source[layer]` (rows, positions, heads *
    head_dim), gathered at `align` (rows, positions; -1: keep the row's own value).
    `record`: layers whose head outputs are kept (`HeadRunner.recorded`); `accumulate`: every
    layer's outputs summed per position over real tokens instead (`HeadRunner.sums`), so
    means over a large sample never hold every activation."""

    ablate: dict[int, list[int]] = field(default_factory=dict)
    means: dict[int, torch.Tensor] | None = None
    patch: dict[int, list[int]] = field(default_factory=dict)
    source: dict[int, torch.Tensor] = field(default_factory=dict)
    align: torch.Tensor | None = None
    record: Sequence[int] = ()
    accumulate: bool = False

    @staticmethod
    def of(heads: Sequence[Head], means: dict[int, torch.Tensor] | None) -> Edit:
        ablate: dict[int, list[int]] = {}
        for layer, head in heads:
            ablate.setdefault(layer, []).append(head)
        return Edit(ablate=ablate, means=means)


class HeadRunner:
    """The model run on right-padded token ids in batches, one `Edit` per call."""

    def __init__(self, runner: ModelRunner, sites: list[Site], batch_size: int) -> None:
        self.runner = runner
        self.sites = sites
        self.batch_size = batch_size
        self.pad_id = 0 if runner.pad_id is None else runner.pad_id
        self.device = runner.device
        self._edit: Edit | None = None
        self._rows = slice(0, 0)
        self.recorded: dict[int, list[torch.Tensor]] = {}
        self.sums: dict[int, torch.Tensor] = {}  # layer -> (positions, width) float64
        self._real: torch.Tensor | None = None  # (rows, L) of the current batch: 1 on tokens

    @property
    def heads(self) -> list[Head]:
        return [(s.layer, h) for s in self.sites for h in range(s.n_heads)]

    def _hook(self, site: Site):  # type: ignore[no-untyped-def]
        def pre(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            edit = self._edit
            if edit is None:
                return args
            x = args[0]
            d = site.head_dim
            if site.layer in edit.record:
                self.recorded.setdefault(site.layer, []).append(x.detach().clone())
            if edit.accumulate:
                assert self._real is not None
                part = (x.detach().double() * self._real[..., None]).sum(0).cpu()
                total = self.sums.get(site.layer)
                if total is None or total.shape[0] < part.shape[0]:
                    grown = torch.zeros(part.shape, dtype=torch.float64)
                    if total is not None:
                        grown[: total.shape[0]] = total
                    total = grown
                total[: part.shape[0]] += part
                self.sums[site.layer] = total
            heads = edit.ablate.get(site.layer, [])
            patched = edit.patch.get(site.layer, [])
            if not heads and not patched:
                return args
            x = x.clone()
            length = x.shape[1]
            for h in heads:
                cols = slice(h * d, (h + 1) * d)
                if edit.means is None:
                    x[..., cols] = 0.0
                else:
                    x[..., cols] = edit.means[site.layer][:length, cols].to(x.dtype)
            if patched:
                assert edit.align is not None
                src = edit.source[site.layer][self._rows].to(x.device)
                align = edit.align[self._rows, :length].to(x.device)
                take = align.clamp(min=0)
                gathered = torch.gather(src, 1, take[..., None].expand(-1, -1, src.shape[-1]))
                keep = (align >= 0)[..., None]
                for h in patched:
                    cols = slice(h * d, (h + 1) * d)
                    x[..., cols] = torch.where(keep, gathered[..., cols], x[..., cols])
            return (x, *args[1:])

        return pre

    @contextmanager
    def _hooked(self) -> Iterator[None]:
        handles = [s.projection.register_forward_pre_hook(self._hook(s)) for s in self.sites]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def proba(self, ids: np.ndarray, edit: Edit | None = None) -> np.ndarray:
        """(n, K) class probabilities of `ids` (right-padded) with `edit` applied."""
        self._edit, self.recorded, self.sums = edit, {}, {}
        x = torch.as_tensor(ids, dtype=torch.long, device=self.device)
        mask = torch.ne(x, self.pad_id).long()
        out = []
        try:
            with torch.no_grad(), self._hooked():
                for start in range(0, len(x), self.batch_size):
                    self._rows = slice(start, start + self.batch_size)
                    self._real = mask[self._rows].double()
                    out.append(self.runner.scores(x[self._rows], mask[self._rows]))
        finally:
            self._edit = None
        return torch.cat(out).double().cpu().numpy() if out else np.empty((0, 0))

    def contexts(self, ids: np.ndarray, layers: Sequence[int]) -> dict[int, torch.Tensor]:
        """The head outputs of `layers` on `ids`: (n, length, heads * head_dim) per layer."""
        self.proba(ids, Edit(record=tuple(layers)))
        return {layer: torch.cat(parts) for layer, parts in self.recorded.items()}

    def means(self, ids: np.ndarray, length: int) -> dict[int, torch.Tensor]:
        """Per layer, each head's mean output at each position over the texts reaching it
        (padding excluded), `length` positions; a position no text reaches gets the head's
        mean over all real positions. One pass, sums accumulated batch by batch."""
        self.proba(ids, Edit(accumulate=True))
        real = torch.as_tensor(ids != self.pad_id, dtype=torch.float64)
        count = real.sum(0)  # (L,)
        out: dict[int, torch.Tensor] = {}
        for layer, total in self.sums.items():
            overall = total.sum(0) / count.sum().clamp(min=1.0)
            per_pos = total / count.clamp(min=1.0)[:, None]
            per_pos[count == 0] = overall
            full = overall.expand(length, -1).clone()
            n = min(length, per_pos.shape[0])
            full[:n] = per_pos[:n]
            out[layer] = full.float()
        return out


def pad_to(ids: np.ndarray, length: int, pad_id: int) -> np.ndarray:
    """Right-padded ids widened to `length` columns."""
    if ids.shape[1] >= length:
        return ids
    out = np.full((ids.shape[0], length), pad_id, dtype=ids.dtype)
    out[:, : ids.shape[1]] = ids
    return out


__all__ = ["Edit", "Head", "HeadRunner", "Site", "find_sites", "pad_to"]
