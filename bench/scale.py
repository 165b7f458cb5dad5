"""Scale-out and orchestration overhead, measured side by side in one run.

1. The attribution and perturbation stage: the spurious and robustness checks of the tabular
   demo (made heavier: larger samples, batch-sized attack shards, a longer min-flip search),
   run as the flow runs them: in threads of the flow's process, their per-row work sent as
   shard tasks (`flows.sharding.DaskRowMapper`) to a Dask LocalCluster of 1 and then 2
   single-threaded workers. The in-process run (no Dask) is the baseline. Cluster start-up
   and the once-per-worker model load are excluded (a warm-up shard per worker); the metrics
   of all three runs must be identical.
2. The Prefect overhead of `audit run`: the same audit through `audit_flow` against a local
   `prefect server start`, minus the library pipeline called directly (both warm).

Run from the repository root: `PYTHONPATH=. .venv/bin/python bench/scale.py`.
It uses a throw-away AUDIT_HOME and PREFECT_HOME and stops everything it started.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

import flows  # noqa: F401  (no telemetry: sets the environment before Prefect loads)

# isort: split
from prefect import flow

from audit import pipeline
from audit.spec import RunnerSpec
from flows import sharding

ROOT = Path(__file__).resolve().parents[1]
STAGE = ("spurious", "robustness")
# The demo's checks at a production-like size (the demo itself keeps them small).
HEAVY = {
    "bias": False,
    "performance": False,
    "spurious": {"sample": 2000, "batch_size": 32},
    "robustness": {"sample": 4000, "batch_size": 500, "min_flip_sample": 400, "pgd_steps": 20},
}


def heavy_spec(spec: Path) -> Path:
    """The demo spec with `HEAVY` merged into its checks, written beside it."""
    raw = yaml.safe_load(spec.read_text())
    for name, override in HEAVY.items():
        raw["checks"][name] = override and {**(raw["checks"].get(name) or {}), **override}
    out = spec.with_name("audit-scale.yaml")
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


def measure_stage(loaded: Any, predictions: Any, rows: Any) -> tuple[float, list[Any]]:
    """The stage's checks concurrently, as the flow runs them; wall time and their metrics."""

    def one(name: str) -> Any:
        ctx = dataclasses.replace(pipeline.context(loaded, predictions, name), rows=rows)
        result = pipeline.measure(name, ctx, timeout=3600)
        assert result.run.state == "ran", result.run.message
        return result.output.metrics

    start = time.perf_counter()
    with ThreadPoolExecutor(len(STAGE)) as pool:
        metrics = list(pool.map(one, STAGE))
    return time.perf_counter() - start, metrics


def timed_stage(loaded: Any, rows: Any, repeats: int) -> tuple[float, list[Any]]:
    """The median wall time of `repeats` runs of the stage, and the metrics (all runs agree)."""
    predictions = pipeline.predict(loaded)
    runs = [measure_stage(loaded, predictions, rows) for _ in range(repeats)]
    assert all(metrics == runs[0][1] for _, metrics in runs)
    return statistics.median(t for t, _ in runs), runs[0][1]


@flow(name="bench-scale")
def stage_on_dask(spec_path: str, workers: int, shards: int, repeats: int) -> tuple[float, Any]:
    """The stage with its per-row work on a fresh LocalCluster (a module-level flow: Prefect
    ships the flow's context to the workers, and a closure would drag the model along)."""
    loaded = pipeline.load(spec_path)
    with sharding.task_runner_for(RunnerSpec(kind="dask", workers=workers)) as runner:
        rows = sharding.DaskRowMapper(runner, spec_path, dict(loaded.hashes), shards)
        x = loaded.data.x[: 2 * workers]  # warm-up: each worker loads the model once
        one_row = [slice(i, i + 1) for i in range(len(x))]
        rows("audit.checks.rows:predict_slice", one_row, {"batch_size": 1}, {"x": x})
        return timed_stage(loaded, rows, repeats)


def bench_workers(spec: Path, shards: int, repeats: int) -> dict[str, Any]:
    here, base = timed_stage(pipeline.load(spec), None, repeats)
    one, out1 = stage_on_dask(str(spec), 1, shards, repeats)
    two, out2 = stage_on_dask(str(spec), 2, shards, repeats)
    return {
        "in process (s)": here,
        "1 worker (s)": one,
        "2 workers (s)": two,
        "speed-up 1→2": one / two,
        "identical": base == out1 == out2,
    }


def bench_overhead(spec: Path, repeats: int) -> dict[str, Any]:
    from flows.audit_flow import audit_flow

    out = Path(tempfile.mkdtemp(prefix="bench-scale-out-"))
    pipeline.run_audit(spec, out / "warm-direct")
    audit_flow(spec_path=str(spec), out_dir=str(out / "warm-flow"))
    direct, flowed = [], []
    for i in range(repeats):
        start = time.perf_counter()
        pipeline.run_audit(spec, out / f"direct{i}")
        direct.append(time.perf_counter() - start)
        start = time.perf_counter()
        audit_flow(spec_path=str(spec), out_dir=str(out / f"flow{i}"))
        flowed.append(time.perf_counter() - start)
    d, f = statistics.median(direct), statistics.median(flowed)
    return {"direct (s)": d, "flow (s)": f, "overhead (s)": f - d}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shards", type=int, default=8)
    args = parser.parse_args()

    os.environ["AUDIT_HOME"] = os.environ.get("AUDIT_HOME") or tempfile.mkdtemp(prefix="bench-")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from audit.demo import build_demo
    from flows.schedule import local_server

    spec = build_demo("tabular")
    with local_server() as api_url, temporary_settings({PREFECT_API_URL: api_url}):
        os.environ["PREFECT_API_URL"] = api_url  # the Dask workers inherit it
        scale = bench_workers(heavy_spec(spec), args.shards, args.repeats)
        overhead = bench_overhead(spec, args.repeats)
    print(f"cores: {os.cpu_count()}, shards: {args.shards}, repeats: {args.repeats} (medians)")
    print(f"stage: {', '.join(STAGE)} with {HEAVY}")
    for name, value in {**scale, **overhead}.items():
        print(f"{name:>16}: {value:.2f}" if isinstance(value, float) else f"{name:>16}: {value}")


if __name__ == "__main__":
    sys.exit(main())
