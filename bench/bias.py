"""Benchmark of the bias check against fairlearn's own bootstrap, and its growth with rows.

Run from the repository root:  PYTHONPATH=. python bench/bias.py [--quick] [--out FILE]

1. Per-resample cost, on the same 100k rows: our whole bias check with 1,000 bootstrap
   resamples against fairlearn `MetricFrame(n_boot=20)` with the same six rates. Each side's
   per-resample cost is (time with resamples - time without) / resamples.
2. The whole bias stage on 1M rows, 2 sensitive features (2 x 5 = 10 intersectional groups),
   1,000 resamples: wall time and peak RSS, measured with resource.getrusage in a fresh
   subprocess (so nothing else inflates the peak).
3. Growth of time and peak RSS from 100k to 1M to 5M rows.
4. Many groups: one sensitive column with 1,000 and 10,000 groups (two rows each, 100
   resamples, as in bench/hostile_groups.py), the check against the same check with its
   closed-form group rates swapped for fairlearn's `MetricFrame` (the previous code path),
   asserting that every number of the two runs agrees to 1e-12.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd


def make_data(n: int, seed: int = 0):
    """Binary labels, scores with a group effect, and two string sensitive columns."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["Female", "Male"], dtype=object), n)
    race = rng.choice(
        np.array(["A", "B", "C", "D", "E"], dtype=object), n, p=[0.4, 0.3, 0.15, 0.1, 0.05]
    )
    y = (rng.random(n) < 0.4).astype(np.int64)
    shift = np.where(sex == "Female", -0.05, 0.05)
    p1 = np.clip(0.25 + 0.4 * y + shift + 0.2 * rng.standard_normal(n), 0.0, 1.0)
    proba = np.column_stack([1.0 - p1, p1])
    label = (p1 >= 0.5).astype(np.int64)
    sensitive = pd.DataFrame({"sex": sex, "race": race})
    return y, label, proba, sensitive


def run_check(y, label, proba, sensitive, n_boot: int):
    from audit.checks.base import CheckContext, Predictions
    from audit.checks.bias.check import BiasCheck
    from audit.checks.bias.spec import BiasSpec
    from audit.loaders.data import Dataset

    data = Dataset(
        x=np.zeros((len(y), 0), np.float32), y=y, sensitive=sensitive, modality="tabular"
    )
    ctx = CheckContext(
        model=None,
        data=data,
        predictions=Predictions(proba=proba, label=label),
        config=BiasSpec(n_boot=n_boot),
        seed=0,
    )
    start = time.perf_counter()
    out = BiasCheck().measure(ctx)
    return time.perf_counter() - start, out


def fairlearn_frame(y, label, sensitive, n_boot: int | None) -> float:
    import sklearn.metrics as skm
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    metrics = {
        "selection_rate": selection_rate,
        "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
        "precision": skm.precision_score,
        "accuracy": skm.accuracy_score,
    }
    extra = (
        {}
        if n_boot is None
        else {"n_boot": n_boot, "ci_quantiles": [0.025, 0.975], "random_state": 0}
    )
    start = time.perf_counter()
    MetricFrame(metrics=metrics, y_true=y, y_pred=label, sensitive_features=sensitive, **extra)
    return time.perf_counter() - start


def child(n: int, n_boot: int) -> dict:
    """One measurement in a fresh process: stage time and peak RSS."""
    import audit.checks.bias  # noqa: F401  (imports count to the baseline, not the stage)

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    y, label, proba, sensitive = make_data(n)
    data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds, out = run_check(y, label, proba, sensitive, n_boot)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    run_check(y, label, proba, sensitive, n_boot)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    groups = len({m.group for m in out.metrics if m.feature == "sex*race" and m.name == "count"})
    return {
        "rows": n,
        "n_boot": n_boot,
        "seconds": seconds,
        "peak_rss_mb": peak / 1024,
        "after_imports_mb": base_rss / 1024,
        "after_data_mb": data_rss / 1024,
        "stage_alloc_mb": traced / 2**20,
        "metrics": len(out.metrics),
        "intersection_groups": groups,
    }


def in_subprocess(n: int, n_boot: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(n), "--n-boot", str(n_boot)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def bootstrap_seconds(y, label, proba, sensitive, n_boot: int) -> float:
    """Time spent inside the check's bootstrap during one real run of the whole check."""
    import audit.checks.bias as bias

    original = bias.bootstrap_intervals
    spent: list[float] = []

    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = original(*args, **kwargs)
        spent.append(time.perf_counter() - start)
        return result

    bias.bootstrap_intervals = timed
    try:
        run_check(y, label, proba, sensitive, n_boot)
    finally:
        bias.bootstrap_intervals = original
    return sum(spent)


def compare(n: int, fairlearn_boot: int, our_boot: int) -> dict:
    """Per-resample cost of both, on the same rows.

    Ours is the time spent inside the bootstrap during a real run of the whole check, divided
    by the resamples (the fixed cost of the check dwarfs it, so a with-minus-without
    difference would be timing noise). The whole check's time divided by the resamples is
    also given: an upper bound that charges every fixed cost to the resamples.
    """
    y, label, proba, sensitive = make_data(n, seed=1)
    run_check(y, label, proba, sensitive, 0)  # warm-up (imports, first MetricFrame)
    ours_total = min(run_check(y, label, proba, sensitive, our_boot)[0] for _ in range(3))
    ours_boot = min(bootstrap_seconds(y, label, proba, sensitive, our_boot) for _ in range(3))
    fl0 = fairlearn_frame(y, label, sensitive, None)
    fl1 = fairlearn_frame(y, label, sensitive, fairlearn_boot)
    ours_per = ours_boot / our_boot
    ours_bound = ours_total / our_boot
    fl_per = max(fl1 - fl0, 1e-9) / fairlearn_boot
    return {
        "rows": n,
        "ours_seconds": ours_total,
        "ours_boot_seconds": ours_boot,
        "ours_boot": our_boot,
        "ours_per_resample_ms": 1e3 * ours_per,
        "ours_bound_ms": 1e3 * ours_bound,
        "fairlearn_seconds_no_boot": fl0,
        "fairlearn_seconds": fl1,
        "fairlearn_boot": fairlearn_boot,
        "fairlearn_per_resample_ms": 1e3 * fl_per,
        "ratio": fl_per / ours_per,
        "ratio_bound": fl_per / ours_bound,
    }


def many_groups_data(groups: int):
    """One sensitive column with `groups` groups of two rows each (bench/hostile_groups.py)."""
    rng = np.random.default_rng(0)
    n = 2 * groups
    y = rng.integers(0, 2, n)
    p1 = rng.uniform(size=n)
    sensitive = pd.DataFrame({"g": [f"g{i % groups:05d}" for i in range(n)]})
    return y, (p1 >= 0.5).astype(np.int64), np.column_stack([1 - p1, p1]), sensitive


def _run_many(y, label, proba, sensitive, groups: int):
    from audit.checks.base import CheckContext, Predictions
    from audit.checks.bias.check import BiasCheck
    from audit.checks.bias.spec import BiasSpec
    from audit.loaders.data import Dataset

    data = Dataset(
        x=np.zeros((len(y), 1), np.float32), y=y, sensitive=sensitive, modality="tabular"
    )
    ctx = CheckContext(
        model=None,
        data=data,
        predictions=Predictions(proba=proba, label=label),
        config=BiasSpec(max_groups=max(groups, 50), n_boot=100),
        seed=0,
        min_group_size=30,
    )
    start = time.perf_counter()
    out = BiasCheck().measure(ctx)
    return time.perf_counter() - start, out.metrics


def _largest_difference(ours, theirs) -> float:
    """Every metric of the two runs pairs up by its keys; the largest gap of any number."""

    def key(m):
        return (m.name, m.feature, m.group, m.method)

    a, b = {key(m): m for m in ours}, {key(m): m for m in theirs}
    assert a.keys() == b.keys(), "the two runs measured different metrics"
    gap = 0.0
    for k, m in a.items():
        r = b[k]
        assert m.n == r.n, k
        for field in ("value", "ci_low", "ci_high"):
            x, z = getattr(m, field), getattr(r, field)
            assert (x is None) == (z is None), (k, field)
            if x is not None:
                gap = max(gap, abs(x - z))
    assert gap <= 1e-12, f"closed form and fairlearn differ by {gap}"
    return gap


def many_groups(sizes: list[int]) -> list[dict]:
    """Closed-form group rates against fairlearn's MetricFrame inside the same check."""
    import audit.checks.bias.check as check
    from audit.checks.bias._fairlearn_frame import group_rates as fairlearn_rates

    out = []
    for groups in sizes:
        data = many_groups_data(groups)
        ours, metrics = min((_run_many(*data, groups) for _ in range(3)), key=lambda r: r[0])
        closed_form = check.group_rates
        check.group_rates = fairlearn_rates
        try:
            theirs, reference = _run_many(*data, groups)
        finally:
            check.group_rates = closed_form
        out.append(
            {
                "groups": groups,
                "seconds": ours,
                "fairlearn_seconds": theirs,
                "ratio": theirs / ours,
                "metrics": len(metrics),
                "largest_difference": _largest_difference(metrics, reference),
                "load": os.getloadavg()[0],
            }
        )
    return out


def many_groups_markdown(rows: list[dict]) -> str:
    lines = [
        "### Many groups: closed-form rates against fairlearn's `MetricFrame`",
        "",
        "One sensitive column, two rows per group, 100 resamples (the shape of "
        "`bench/hostile_groups.py`). *fairlearn* is the same check with its closed-form "
        "group rates swapped for `MetricFrame` (one sklearn call per group and rate, the "
        "previous code path); every number of the two runs is compared.",
        "",
        "| groups | check (s, best of 3) | with fairlearn's rates (s) | ratio | metrics "
        "| largest difference | load (1 min) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['groups']:,} | {r['seconds']:.2f} | {r['fairlearn_seconds']:.1f} | "
            f"{r['ratio']:.0f}x | {r['metrics']:,} | {r['largest_difference']:.1e} | "
            f"{r['load']:.1f} |"
        )
    return "\n".join([*lines, ""])


def markdown(cmp: dict, stage: dict, growth: list[dict]) -> str:
    lines = [
        "## Bias check",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}. "
        "Command: `PYTHONPATH=. python bench/bias.py`.",
        "",
        f"### Per-resample cost against fairlearn ({cmp['rows']:,} rows, same data, one run)",
        "",
        "Ours: the whole bias check (sex, race and sex*race; six rates, calibration, impact "
        "ratios, five aggregates with bootstrap CIs). fairlearn: `MetricFrame` with the same "
        "six rates on the sex x race groups only, `n_boot` resamples.",
        "",
        "| | resamples | whole run (s) | resampling (s) | per resample (ms) |",
        "|---|---:|---:|---:|---:|",
        f"| ours: time inside the bootstrap | {cmp['ours_boot']:,} | {cmp['ours_seconds']:.3f} "
        f"| {cmp['ours_boot_seconds']:.4f} | {cmp['ours_per_resample_ms']:.5f} |",
        f"| ours: whole check / resamples (upper bound) | {cmp['ours_boot']:,} | "
        f"{cmp['ours_seconds']:.3f} | - | {cmp['ours_bound_ms']:.4f} |",
        f"| fairlearn `MetricFrame` (with - without) | {cmp['fairlearn_boot']} | "
        f"{cmp['fairlearn_seconds']:.2f} | "
        f"{cmp['fairlearn_seconds'] - cmp['fairlearn_seconds_no_boot']:.2f} "
        f"| {cmp['fairlearn_per_resample_ms']:.1f} |",
        "",
        f"**Ratio per resample: {cmp['ratio']:,.0f}x**; still **{cmp['ratio_bound']:,.0f}x** "
        "when all of our check's fixed costs are charged to the resamples (goal: at least 100x).",
        "",
        f"### Whole bias stage: {stage['rows']:,} rows, 2 sensitive features "
        f"({stage['intersection_groups']} intersectional groups), {stage['n_boot']:,} resamples",
        "",
        f"- time: **{stage['seconds']:.2f} s** (goal < 10 s)",
        f"- peak RSS of the process: **{stage['peak_rss_mb']:.0f} MB** (goal < 1.5 GB); after "
        f"imports {stage['after_imports_mb']:.0f} MB (torch is imported by `audit.checks.base`), "
        f"after building the inputs {stage['after_data_mb']:.0f} MB",
        f"- the stage's own allocation peak (tracemalloc, numpy included): "
        f"{stage['stage_alloc_mb']:.0f} MB",
        f"- {stage['metrics']} metrics emitted",
        "",
        "### Growth with rows (1,000 resamples, fresh process each)",
        "",
        "| rows | time (s) | peak RSS (MB) | RSS after imports (MB) | RSS after inputs (MB) "
        "| stage's own allocation peak (MB, tracemalloc) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for g in growth:
        lines.append(
            f"| {g['rows']:,} | {g['seconds']:.2f} | {g['peak_rss_mb']:.0f} | "
            f"{g['after_imports_mb']:.0f} | {g['after_data_mb']:.0f} | {g['stage_alloc_mb']:.0f} |"
        )
    lines += [
        "",
        "Time is a fixed part (one fairlearn `MetricFrame` per feature and intersection, fed at "
        "most four weighted rows per group, so independent of rows) plus a part linear in rows "
        "(factorizing the sensitive columns and a few `np.bincount` passes). The bootstrap does "
        "not grow with rows at all: resamples are multinomial draws over the confusion cells. "
        "Memory beyond the inputs is a few int64 temporaries per row.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--out", type=Path, help="write the markdown section to this file")
    parser.add_argument(
        "--groups", type=int, nargs="*", help="only the many-groups part, at these group counts"
    )
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.n_boot)))
        return
    if args.groups:
        print(many_groups_markdown(many_groups(args.groups)))
        return
    cmp_rows, fl_boot = (20_000, 5) if args.quick else (100_000, 20)
    sizes = [100_000, 300_000] if args.quick else [100_000, 1_000_000, 5_000_000]
    cmp = compare(cmp_rows, fl_boot, 1000)
    growth = [in_subprocess(n, 1000) for n in sizes]
    stage = next((g for g in growth if g["rows"] == 1_000_000), growth[-1])
    many = many_groups([1_000] if args.quick else [1_000, 10_000])
    text = markdown(cmp, stage, growth) + "\n" + many_groups_markdown(many)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
