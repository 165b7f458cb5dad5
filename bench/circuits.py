"""Cost of the circuits check's head-ablation sweep against raw batched forward passes.

One run, the same texts, batch size and number of passes for both columns:
- ours: rows/s of the sweep as the check runs it: `HeadRunner.proba` with one head
  mean-ablated per pass (pre-hooks on every attention output projection), over every head;
- raw: rows/s of `ModelRunner.scores` of the same model on the same ids, as many passes,
  without hooks: the ceiling for any ablation sweep in batched forward passes.
Goal: ours / raw >= 0.8. Best of `--repeats` interleaved timings, one torch thread (steadier
on a shared machine). Usage: PYTHONPATH=. python bench/circuits.py [--repeats 5]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _timing import best_of

from audit.checks.circuits.heads import Edit, HeadRunner, find_sites
from audit.loaders.huggingface import HFTextClassifier
from audit.loaders.model import ModelRunner
from audit.testing.hf import tiny_classifier

BATCH = 64  # the spec default


def run(
    architecture: str, layers: int, heads: int, hidden: int, rows: int, length: int, repeats: int
) -> dict[str, float]:
    model = tiny_classifier(
        1000,
        architecture=architecture,
        layers=layers,
        heads=heads,
        hidden=hidden,
        max_length=128,
    ).eval()
    module = HFTextClassifier(model, 0).eval()
    runner = ModelRunner(
        module, "binary", "logits", 0.5, "cpu", 2, input_dtype=torch.int64, pad_id=0
    )
    sites = find_sites(module)
    assert not isinstance(sites, str)
    hooked = HeadRunner(runner, sites, BATCH)
    rng = np.random.default_rng(0)
    ids = np.zeros((rows, length), dtype=np.int64)
    for i in range(rows):
        k = int(rng.integers(length // 2, length + 1))
        ids[i, :k] = rng.integers(5, 1000, size=k)
    means = hooked.means(ids, length)
    passes = hooked.heads
    x = torch.as_tensor(ids)
    mask = torch.ne(x, 0).long()

    def ours() -> None:
        for h in passes:
            hooked.proba(ids, Edit.of([h], means))

    def raw() -> None:
        with torch.no_grad():
            for _ in passes:
                for s in range(0, rows, BATCH):
                    runner.scores(x[s : s + BATCH], mask[s : s + BATCH])

    best = best_of({"ours": ours, "raw": raw}, repeats)
    total = rows * len(passes)
    return {"ours": total / best["ours"], "raw": total / best["raw"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| model | layers x heads | hidden | texts x tokens | ours rows/s | raw rows/s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for arch, layers, heads, hidden in (
        ("bert", 2, 2, 16),
        ("bert", 4, 4, 64),
        ("distilbert", 4, 4, 64),
    ):
        r = run(arch, layers, heads, hidden, 256, 32, args.repeats)
        print(
            f"| {arch} | {layers} x {heads} | {hidden} | 256 x 32 | {r['ours']:,.0f} | "
            f"{r['raw']:,.0f} | {r['ours'] / r['raw']:.2f} |"
        )


if __name__ == "__main__":
    main()
