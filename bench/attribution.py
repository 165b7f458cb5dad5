"""Throughput of the spurious check's attribution stage against raw forward+backward.

For each model (a tabular MLP and a small CNN) and method, three numbers from the same run:
- ours: rows/s of `attribute_rows` (batched, as the check runs it);
- raw: rows/s of batched forward+backward of the same model, divided by the method's passes
  (1 for saliency, n_steps for integrated gradients) -- the ceiling for any implementation;
- naive: rows/s of a per-example captum loop (one `attribute` call per row).
Goal: ours / raw >= 0.8. Best of `--repeats` interleaved timings, on one thread (steadier on a
shared machine). Usage: PYTHONPATH=. python bench/attribution.py [--repeats 7]
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import torch
from _timing import best_of
from captum.attr import IntegratedGradients, Saliency
from torch import nn

from audit.checks.spurious.attribution import MethodConfig, attribute_rows, rows_per_batch
from audit.demo.image import DigitCNN
from audit.loaders.model import ModelRunner

N_STEPS = 32
BATCH = 64  # rows per IG pass, the spec default


def _mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
    )


def _runner(module: nn.Module) -> ModelRunner:
    for p in module.parameters():
        p.requires_grad_(False)
    return ModelRunner(
        module=module.eval(), task="binary", output="logits", decision_threshold=0.5, device="cpu"
    )


def _raw(runner: ModelRunner, x: np.ndarray, target: np.ndarray, passes: int, chunk: int) -> None:
    """Forward+backward over len(x) * passes model rows, `chunk` model rows per pass."""
    rows = np.repeat(np.arange(len(x)), passes)
    for start in range(0, len(rows), chunk):
        idx = rows[start : start + chunk]
        xb = torch.as_tensor(x[idx]).requires_grad_()
        out = runner.scores(xb)
        out[torch.arange(len(idx)), torch.as_tensor(target[idx])].sum().backward()


def _naive(
    runner: ModelRunner, method: str, x: np.ndarray, target: np.ndarray, base: np.ndarray
) -> None:
    for i in range(len(x)):
        xi = torch.as_tensor(x[i : i + 1]).requires_grad_()
        ti = int(target[i])
        if method == "saliency":
            Saliency(runner.scores).attribute(xi, target=ti)
        else:
            IntegratedGradients(runner.scores).attribute(
                xi, baselines=torch.as_tensor(base[None]), target=ti, n_steps=N_STEPS
            )


def bench(name: str, module: nn.Module, x: np.ndarray, repeats: int) -> list[str]:
    runner = _runner(module)
    target = runner.decide(runner.predict_proba(x))
    base = np.zeros(x.shape[1:], np.float32)
    lines = []
    for method, passes in (("saliency", 1), ("integrated_gradients", N_STEPS)):
        cfg = MethodConfig(method=method, baseline=base, n_steps=N_STEPS, batch_size=BATCH)
        chunk = rows_per_batch(cfg) * passes  # the same model rows per pass as ours
        few = x[:64]
        best = best_of(
            {
                "ours": partial(attribute_rows, runner, x, target, cfg),
                "raw": partial(_raw, runner, x, target, passes, chunk),
                "naive": partial(_naive, runner, method, few, target, base),
            },
            repeats,
        )
        ours, raw, naive = len(x) / best["ours"], len(x) / best["raw"], len(few) / best["naive"]
        lines.append(
            f"| {name} | {method} | {len(x)} | {ours:,.0f} | {raw:,.0f} | {ours / raw:.2f} "
            f"| {naive:,.0f} | {ours / naive:.0f}x |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    tab = rng.normal(size=(65536, 16)).astype(np.float32)
    img = rng.uniform(0, 1, (2048, 1, 8, 8)).astype(np.float32)
    rows = [
        "| model | method | rows | ours (rows/s) | raw fwd+bwd / passes (rows/s) | ours / raw "
        "| naive per-example (rows/s) | ours / naive |",
        "|---|---|---|---|---|---|---|---|",
        *bench("tabular MLP 16-64-64-2", _mlp(), tab, args.repeats),
        *bench("CNN 8x8 (digits demo)", DigitCNN(), img, args.repeats),
    ]
    rows_per_pass = BATCH * N_STEPS
    print(f"torch {torch.__version__}, threads=1, n_steps={N_STEPS}, {rows_per_pass} rows/pass")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
