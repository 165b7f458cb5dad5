"""Perturbation evaluation throughput against raw batched inference, per modality.

For each modality the robustness families are run (perturb + score, adversarial off) and
timed; the baseline is `predict_proba` on the same number of unperturbed inputs in the same
batch size. The ratio raw_time / perturbed_time is the share of raw inference throughput the
perturbation pipeline keeps (goal >= 0.8). Best of `--repeat` runs, interleaved so machine
load hits both sides alike. Times are process CPU seconds with one intra-op thread: on a
shared machine wall-clock ratios swing by ±40% between runs, CPU time far less.

    PYTHONPATH=. python bench/robustness.py [--write docs/benchmarks-robustness.md]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from audit.checks.base import CheckContext, Predictions
from audit.checks.robustness import image, tabular, text
from audit.checks.robustness._common import Sample
from audit.checks.robustness.adversarial import measure_adversarial
from audit.checks.robustness.spec import RobustnessSpec
from audit.loaders.data import Dataset
from audit.loaders.model import ModelRunner


def _mlp(d: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1)
    )


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10),
    )


class _TextModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5000, 64, padding_idx=0)
        self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x != 0).unsqueeze(-1).float()
        pooled = (self.emb(x) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.head(pooled)


@dataclass
class Case:
    name: str
    ctx: CheckContext
    run: Callable[[CheckContext, Sample], object]
    inputs: int  # perturbed inputs scored per run


def _ctx(module: nn.Module, x: np.ndarray, modality: str, task: str, k: int, **cfg) -> CheckContext:
    torch.manual_seed(0)
    for p in module.parameters():
        p.requires_grad_(False)
    runner = ModelRunner(
        module=module.eval(),
        task=task,
        output="logits",
        decision_threshold=0.5,
        device="cpu",
        n_classes=k,
        input_dtype=torch.int64 if modality == "text" else torch.float32,
    )
    proba = runner.predict_proba(x)
    label = runner.decide(proba)
    y = label.copy()
    y[::7] = (y[::7] + 1) % k
    data = Dataset(
        x=x,
        y=y,
        sensitive=pd.DataFrame(index=range(len(y))),
        modality=modality,
        feature_names=tuple(f"f{i}" for i in range(x.shape[1])) if modality == "tabular" else (),
    )
    return CheckContext(
        model=runner,
        data=data,
        predictions=Predictions(proba=proba, label=label),
        config=RobustnessSpec(sample=len(x), **cfg),
    )


def cases(n_tab: int, n_img: int, n_txt: int) -> list[Case]:
    rng = np.random.default_rng(0)
    x_tab = rng.normal(size=(n_tab, 14)).astype(np.float32)
    x_tab[:, :4] = rng.integers(0, 6, (n_tab, 4))
    tab = _ctx(_mlp(14), x_tab, "tabular", "binary", 2, categorical=["f0", "f1", "f2", "f3"])
    roles = tabular.resolve_roles(tab.data.feature_names, tab.config, tab.data.x)
    x_img = rng.random((n_img, 1, 28, 28)).astype(np.float32)
    img = _ctx(_cnn(), x_img, "image", "multiclass", 10)
    x_txt = rng.integers(1, 5000, (n_txt, 64))
    x_txt[:, 48:] = 0
    txt = _ctx(_TextModel(), x_txt, "text", "binary", 2)
    adv = _ctx(_mlp(14), x_tab[: n_tab // 10], "tabular", "binary", 2, min_flip_sample=1)
    adv_space = tabular.attack_space(
        tabular.resolve_roles(adv.data.feature_names, adv.config, adv.data.x)
    )
    return [
        Case(
            "tabular: noise + categorical, 2 families x 5 severities",
            tab,
            lambda c, s: tabular.measure_tabular(c, s, roles),
            10 * n_tab,
        ),
        Case("image: 8 corruptions x 5 severities", img, image.measure_image, 40 * n_img),
        Case("text: 3 token edits x 5 severities", txt, text.measure_text, 15 * n_txt),
        Case(
            "tabular adversarial, for scale (no goal): FGSM + 2 x PGD(10), 1 min-flip search",
            adv,
            lambda c, s: measure_adversarial(c, s, adv_space),
            3 * (n_tab // 10),
        ),
    ]


def _raw(ctx: CheckContext, inputs: int) -> None:
    x = ctx.data.x
    reps = -(-inputs // len(x))
    ctx.model.predict_proba(np.concatenate([x] * reps)[:inputs], ctx.config.batch_size)


def measure(case: Case, repeat: int) -> tuple[float, float]:
    sample = Sample.draw(case.ctx)
    best_pert = best_raw = np.inf
    for _ in range(repeat):
        t = time.process_time()
        case.run(case.ctx, sample)
        best_pert = min(best_pert, time.process_time() - t)
        t = time.process_time()
        _raw(case.ctx, case.inputs)
        best_raw = min(best_raw, time.process_time() - t)
    return best_pert, best_raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the input counts")
    ap.add_argument("--write", type=Path, help="write the markdown section to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    s = args.scale
    rows = []
    for case in cases(int(20_000 * s), int(2_000 * s), int(4_000 * s)):
        pert, raw = measure(case, args.repeat)
        rows.append(
            f"| {case.name} | {case.inputs:,} | {case.inputs / pert:,.0f} | "
            f"{case.inputs / raw:,.0f} | {raw / pert:.2f} |"
        )
    text_out = "\n".join(
        [
            "## Robustness: perturbation evaluation vs raw inference",
            "",
            f"`PYTHONPATH=. python bench/robustness.py` on {platform.machine()}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"best of {args.repeat}, CPU seconds.",
            "",
            "| workload | inputs scored | perturbed inputs/CPU s | raw inputs/CPU s "
            "| ratio (goal >= 0.8) |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    print(text_out)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text_out)


if __name__ == "__main__":
    main()
