"""Shared steps of the image and text demos: cache keys, deterministic training, export."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audit.fsio import write_atomic
from audit.spec import sha256_file


def cache_key(seed: int, *sources: Path, extra: str = "") -> str:
    """A folder key from the demo's source files, the seed and the torch version; `extra`
    adds whatever else the demo's output depends on (another library's version)."""
    digest = hashlib.sha256()
    for path in sources:
        digest.update(sha256_file(path).encode())
    digest.update(f"seed={seed};torch={torch.__version__}{extra}".encode())
    return digest.hexdigest()[:16]


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seed: int,
    epochs: int,
    lr: float = 1e-2,
    batch: int = 256,
) -> nn.Module:
    """Adam on shuffled minibatches with a seeded generator; returns the model in eval mode.

    One thread: these models are tiny, and on a shared machine extra threads only contend
    (measured 20x slower with 2 threads under load); it also keeps the result reproducible.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch):
                idx = order[start : start + batch]
                opt.zero_grad()
                loss_fn(model(x[idx]), y[idx]).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def save_model(model: nn.Module, example: torch.Tensor, folder: Path, stem: str) -> None:
    """Write `stem.pt2` (torch.export, dynamic batch) and `stem_state.pt` (a state_dict)."""
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    tmp = folder / f".{stem}.partial.pt2"
    torch.export.save(program, str(tmp))
    tmp.replace(folder / f"{stem}.pt2")
    tmp_state = folder / f".{stem}_state.partial.pt"
    torch.save(model.state_dict(), str(tmp_state))
    tmp_state.replace(folder / f"{stem}_state.pt")


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.stem}.partial.npz")
    np.savez_compressed(tmp, allow_pickle=False, **arrays)  # numbers only, as the loader reads
    write_atomic(path, tmp.read_bytes())
    tmp.unlink()


def seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """Build a model with seeded initial weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
