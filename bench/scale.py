"""Scale-out and orchestration overhead, measured side by side in one run.

1. The per-row attribution and perturbation stage of the tabular demo, split into shards
   (`flows.sharding.map_shards`, one Prefect task per shard) on a Dask LocalCluster with 1
   and then 2 single-threaded workers. Cluster start-up and the once-per-worker model load are
   excluded (a warm-up shard per worker); the outputs of both runs must be identical.
2. The Prefect overhead of `audit run`: the same audit through `audit_flow` against a local
   `prefect server start`, minus the library pipeline called directly (both warm).

Run from the repository root: `PYTHONPATH=. .venv/bin/python bench/scale.py [--rows N]`.
It uses a throw-away AUDIT_HOME and PREFECT_HOME and stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def attribution_shard(inputs: Any, rows: slice, n_steps: int = 32) -> np.ndarray:
    """Integrated gradients (captum, via the spurious check's batching) towards the prediction."""
    from audit.checks.spurious.attribution import MethodConfig, attribute_rows

    x = inputs.data.x[rows]
    target = inputs.runner.decide(inputs.runner.predict_proba(x, batch_size=4096))
    baseline = np.median(inputs.data.x, axis=0).astype(np.float32)
    cfg = MethodConfig(method="integrated_gradients", baseline=baseline, n_steps=n_steps)
    return attribute_rows(inputs.runner, x, target, cfg).values


def perturbation_shard(inputs: Any, rows: slice, repeats: int = 20, seed: int = 0) -> np.ndarray:
    """Prediction flips under graded Gaussian noise (seeded per shard, severity and repeat)."""
    x = inputs.data.x[rows]
    sigma = inputs.data.x.std(axis=0)
    before = inputs.runner.decide(inputs.runner.predict_proba(x, batch_size=4096))
    flips = np.zeros((len(x), 5), dtype=np.int64)
    for s, eps in enumerate((0.01, 0.05, 0.1, 0.25, 0.5)):
        for r in range(repeats):
            z = np.random.default_rng([seed, s, r, rows.start]).standard_normal(x.shape)
            noisy = (x + eps * sigma * z).astype(x.dtype)
            after = inputs.runner.decide(inputs.runner.predict_proba(noisy, batch_size=4096))
            flips[:, s] += after != before
    return flips


def stage(runner: Any, spec: Path, hashes: dict[str, str], rows: int, shards: int) -> Any:
    from flows import sharding

    attr = sharding.map_shards(
        runner, "bench.scale:attribution_shard", str(spec), hashes, rows, shards
    )
    pert = sharding.map_shards(
        runner, "bench.scale:perturbation_shard", str(spec), hashes, rows, shards
    )
    return sharding.concat(attr), sharding.concat(pert)


def bench_workers(spec: Path, rows: int, shards: int) -> dict[str, Any]:
    from prefect import flow

    from audit.loaders.model import model_sha256
    from audit.spec import RunnerSpec, load_spec, sha256_file
    from flows import sharding

    loaded_spec = load_spec(spec)
    hashes = {
        "spec": sha256_file(spec),
        "data": sha256_file(loaded_spec.data.path),
        "model": model_sha256(loaded_spec.model),
    }

    @flow(name="bench-scale")
    def run(workers: int) -> tuple[float, Any]:
        with sharding.task_runner_for(RunnerSpec(kind="dask", workers=workers)) as runner:
            stage(runner, spec, hashes, 2 * workers, workers)  # warm-up: model load per worker
            start = time.perf_counter()
            out = stage(runner, spec, hashes, rows, shards)
            return time.perf_counter() - start, out

    one, out1 = run(1)
    two, out2 = run(2)
    same = all(np.array_equal(a, b) for a, b in zip(out1, out2, strict=True))
    return {"1 worker (s)": one, "2 workers (s)": two, "speed-up": one / two, "identical": same}


def bench_overhead(spec: Path, repeats: int) -> dict[str, Any]:
    from audit import pipeline
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
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    os.environ["AUDIT_HOME"] = os.environ.get("AUDIT_HOME") or tempfile.mkdtemp(prefix="bench-")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import flows  # noqa: F401  (no telemetry, set before Prefect loads)
    from audit.demo import build_demo
    from flows.schedule import local_server

    spec = build_demo("tabular")
    with local_server() as api_url, temporary_settings({PREFECT_API_URL: api_url}):
        os.environ["PREFECT_API_URL"] = api_url  # the Dask workers inherit it
        scale = bench_workers(spec, args.rows, args.shards)
        overhead = bench_overhead(spec, args.repeats)
    print(f"cores: {os.cpu_count()}, rows: {args.rows}, shards: {args.shards}")
    for name, value in {**scale, **overhead}.items():
        print(f"{name:>16}: {value:.2f}" if isinstance(value, float) else f"{name:>16}: {value}")


if __name__ == "__main__":
    sys.exit(main())
