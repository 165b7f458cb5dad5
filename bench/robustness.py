"""Perturbation evaluation throughput against raw batched inference, per modality.

For each modality the robustness families are run (perturb + score, adversarial off) and
timed; the baseline is `predict_proba` on the same number of unperturbed inputs in the same
batch size. The ratio raw_time / perturbed_time is the share of raw inference throughput the
perturbation pipeline keeps (goal >= 0.8). Best of `--repeat` runs, interleaved so machine
load hits both sides alike. Times are process CPU seconds with one intra-op thread: on a
shared machine wall-clock ratios swing by ±40% between runs, CPU time far less.

`--min-flip` instead times the minimum-flip search on a small CNN: the batched search the
check runs (`min_flip_epsilons`) against the per-example search it replaced (captum's
`MinParamPerturbation`, one example per call), on the same examples, and checks that both
give the same ε to within the search step (goal: >= 10x the examples per CPU second).

    PYTHONPATH=. python bench/robustness.py [--min-flip] [--write docs/benchmarks-robustness.md]
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
from captum.robust import MinParamPerturbation
from torch import nn

from audit.checks.base import CheckContext, Predictions
from audit.checks.robustness import image, tabular, text
from audit.checks.robustness._common import PerturbationSample
from audit.checks.robustness.adversarial import (
    AttackSpace,
    fgsm,
    measure_adversarial,
    min_flip_epsilons,
    pgd,
)
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
    run: Callable[[CheckContext, PerturbationSample], object]
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
            "tabular: noise + categorical, 2 families x 5 levels",
            tab,
            lambda c, s: tabular.measure_tabular(c, s, roles),
            10 * n_tab,
        ),
        Case("image: 8 corruptions x 5 levels", img, image.measure_image, 40 * n_img),
        Case("text: 3 token edits x 5 levels", txt, text.measure_text, 15 * n_txt),
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
    sample = PerturbationSample.draw(case.ctx)
    best_pert = best_raw = np.inf
    for _ in range(repeat):
        t = time.process_time()
        case.run(case.ctx, sample)
        best_pert = min(best_pert, time.process_time() - t)
        t = time.process_time()
        _raw(case.ctx, case.inputs)
        best_raw = min(best_raw, time.process_time() - t)
    return best_pert, best_raw


def per_example_min_flip(
    runner: ModelRunner,
    space: AttackSpace,
    u: torch.Tensor,
    target: torch.Tensor,
    *,
    norm: str,
    eps_max: float,
    step: float,
    pgd_steps: int,
) -> np.ndarray:
    """The search before the batched one: captum's binary `MinParamPerturbation`, one
    example per call (its correctness function judges a whole batch at once)."""

    def still_right(model_out: torch.Tensor, target: torch.Tensor) -> bool:
        decided = runner.decide(model_out.detach().cpu().double().numpy())
        return bool((decided == target.cpu().numpy()).all())

    def attack(inputs: torch.Tensor, target: torch.Tensor, epsilon: float) -> torch.Tensor:
        if epsilon == 0:
            return inputs
        if norm == "Linf":
            return fgsm(runner, space, inputs, target, epsilon)
        return pgd(runner, space, inputs, target, epsilon, "L2", pgd_steps)

    search = MinParamPerturbation(
        forward_func=lambda v: runner.scores(space.to_input(v)),
        attack=attack,
        arg_name="epsilon",
        arg_min=0.0,
        arg_max=eps_max + step,
        arg_step=step,
        mode="binary",
        correct_fn=still_right,
    )
    out = np.full(len(u), np.nan)
    for i in range(len(u)):
        t = target[i : i + 1]
        _, eps = search.evaluate(u[i : i + 1], target=t, attack_kwargs={"target": t})
        if eps is not None:
            out[i] = eps
    return out


def min_flip_rows(n: int, repeat: int) -> list[str]:
    """Examples per CPU second of both searches, per model and norm: the image demo's CNN
    (8×8 digits, untrained here: the cost does not depend on the weights) and the bench's
    1×28×28 CNN, where each pass costs far more than the per-call overhead."""
    from audit.demo.image import DigitCNN

    rows = []
    torch.manual_seed(1)
    for name, module, side, k in (
        ("demo CNN 1x8x8", DigitCNN(), 8, 2),
        ("CNN 1x28x28", _cnn(), 28, 10),
    ):
        rows += _min_flip_model(name, module, side, k, n, repeat)
    return rows


def _min_flip_model(
    name: str, module: nn.Module, side: int, k: int, n: int, repeat: int
) -> list[str]:
    x = torch.as_tensor(np.random.default_rng(1).random((n, 1, side, side)), dtype=torch.float32)
    ctx = _ctx(module, x.numpy(), "image", "binary" if k == 2 else "multiclass", k)
    runner, target = ctx.model, torch.as_tensor(ctx.predictions.label)
    space = image.attack_space((0.0, 1.0), x[:1])
    u = space.from_input(x)
    rows = []
    for norm, step, eps_max, steps in (("Linf", 0.01, 1.0, 10), ("L2", 0.05, 3.0, 10)):
        kw = {"norm": norm, "eps_max": eps_max, "step": step, "pgd_steps": steps}
        best_old = best_new = np.inf
        for _ in range(repeat):
            t = time.process_time()
            old = per_example_min_flip(runner, space, u, target, **kw)
            best_old = min(best_old, time.process_time() - t)
            t = time.process_time()
            new = min_flip_epsilons(runner, space, u, target, **kw)
            best_new = min(best_new, time.process_time() - t)
        same_nan = bool((np.isnan(old) == np.isnan(new)).all())
        gap = float(np.nanmax(np.abs(old - new))) if (~np.isnan(old)).any() else 0.0
        rows.append(
            f"| {name}: {norm}, step {step}, max {eps_max}"
            + (f", PGD({steps})" if norm == "L2" else ", FGSM")
            + f" | {n} | {n / best_old:,.1f} | {n / best_new:,.1f} | {best_old / best_new:.1f}× "
            f"| {int((~np.isnan(new)).sum())} | {gap:.3g}{'' if same_nan else ', NaN differ'} |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the input counts")
    ap.add_argument("--write", type=Path, help="write the markdown section to this file")
    ap.add_argument("--min-flip", action="store_true", help="time the minimum-flip search")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    s = args.scale
    if args.min_flip:
        print(
            "\n".join(
                [
                    f"`PYTHONPATH=. python bench/robustness.py --min-flip` on "
                    f"{platform.machine()}, torch {torch.__version__}, "
                    f"{torch.get_num_threads()} threads, best of {args.repeat}, CPU seconds.",
                    "",
                    "| search | examples | per-example (captum) examples/CPU s "
                    "| batched examples/CPU s | ratio (goal >= 10×) | flipped | max abs(Δε) |",
                    "|---|---:|---:|---:|---:|---:|---:|",
                    *min_flip_rows(int(200 * s), args.repeat),
                ]
            )
        )
        return
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
