"""Scale-out through Prefect's task runners: pick the runner, split per-row work into shards.

The default is a thread pool in the flow's process. `runner: {kind: dask}` in the spec runs
the heavy work on Dask through `prefect-dask`: on an existing scheduler (`address`) or on a
`LocalCluster` of `workers` single-threaded processes started for the run.

On a Dask worker the model and data are loaded once per process and kept, keyed on the
provenance hashes of the files (a torch module pickles and hashes differently in every
process, so the files' sha256 is the only stable key); tasks carry only the spec path, the
hashes and row bounds, never the model. The worker re-hashes the files on first load, so a
model or dataset replaced on disk mid-audit is an error rather than a silent mix.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from pydantic import ValidationError

from audit.errors import SpecError
from audit.loaders.data import Dataset, load_dataset
from audit.loaders.model import ModelRunner, load_module, make_runner, model_sha256
from audit.spec import AuditSpec, RunnerSpec, load_spec, sha256_file

CHANGED_ON_DISK = (
    "{what} changed on disk while the audit ran (sha256 {now} instead of {then}); "
    "a worker cannot measure a different file than the one the audit recorded."
)
CHANGED_FIX = "do not replace model, data or spec files during an audit; run it again."
BAD_RUNNER = "invalid task runner override: {error}"
BAD_RUNNER_FIX = "use `thread` or `dask` (with an optional scheduler address tcp://host:port)."
BAD_FUNCTION = "shard function {ref!r} is not an importable `module:function`."


@dataclass(frozen=True)
class ShardInputs:
    """What a shard needs, loaded once per worker process."""

    spec: AuditSpec
    runner: ModelRunner
    data: Dataset


def task_runner_for(runner: RunnerSpec) -> TaskRunner:
    """Threads in-process by default; Dask on `address`, or on a fresh loopback LocalCluster."""
    if runner.kind == "thread":
        return ThreadPoolTaskRunner(max_workers=max(runner.workers, 4))
    from prefect_dask import DaskTaskRunner

    if runner.address:
        return DaskTaskRunner(address=runner.address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": runner.workers,
            "threads_per_worker": 1,
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": None,
        },
    )


def runner_override(
    runner: RunnerSpec, kind: str | None = None, address: str | None = None
) -> RunnerSpec:
    """The spec's runner section with a CLI/flow-parameter override, validated the same way."""
    update = {k: v for k, v in (("kind", kind), ("address", address)) if v is not None}
    if address is not None and kind is None:
        update["kind"] = "dask"
    try:
        return RunnerSpec.model_validate({**runner.model_dump(), **update})
    except ValidationError as exc:
        raise SpecError(
            BAD_RUNNER.format(error=exc.errors()[0]["msg"]), where="runner", fix=BAD_RUNNER_FIX
        ) from None


def shard_bounds(n_rows: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) bounds of near-equal size; never an empty shard."""
    shards = max(1, min(shards, n_rows)) if n_rows else 1
    edges = [round(i * n_rows / shards) for i in range(shards + 1)]
    return [(edges[i], edges[i + 1]) for i in range(shards)]


_CACHE: dict[tuple[str, ...], ShardInputs] = {}
_CACHE_LOCK = threading.Lock()


def _cache_key(spec_path: str, hashes: Mapping[str, str]) -> tuple[str, ...]:
    return (
        str(Path(spec_path).resolve()),
        *(hashes.get(k, "") for k in ("model", "data", "spec")),
    )


def _verify(spec: AuditSpec, spec_path: str, hashes: Mapping[str, str]) -> None:
    actual = {
        "spec": sha256_file(Path(spec_path)),
        "data": sha256_file(spec.data.path),
        "model": model_sha256(spec.model),
    }
    for what, now in actual.items():
        then = hashes.get(what)
        if then is not None and now != then:
            raise SpecError(
                CHANGED_ON_DISK.format(what=what, now=now[:12], then=then[:12]),
                where=str(spec_path),
                fix=CHANGED_FIX,
            )


def shard_inputs(spec_path: str, hashes: Mapping[str, str]) -> ShardInputs:
    """The model and data for this process, loaded on first use and then reused."""
    key = _cache_key(spec_path, hashes)
    with _CACHE_LOCK:
        if key not in _CACHE:
            spec = load_spec(spec_path)
            _verify(spec, spec_path, hashes)
            data = load_dataset(spec.data, spec.model)
            runner = make_runner(spec.model, load_module(spec.model), data.x)
            _CACHE[key] = ShardInputs(spec=spec, runner=runner, data=data)
        return _CACHE[key]


def prime(
    spec_path: str, hashes: Mapping[str, str], spec: AuditSpec, runner: ModelRunner, data: Dataset
) -> None:
    """Share what the flow's process already loaded, so in-process shards do not reload it."""
    with _CACHE_LOCK:
        _CACHE[_cache_key(spec_path, hashes)] = ShardInputs(spec=spec, runner=runner, data=data)


def resolve(ref: str) -> Callable[..., Any]:
    """`package.module:function` → the function (a string pickles to any worker)."""
    module, _, name = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise SpecError(BAD_FUNCTION.format(ref=ref)) from None


@task(name="shard", task_run_name="{fn}[{start}:{stop}]", cache_policy=NO_CACHE)
def shard_task(
    fn: str,
    spec_path: str,
    hashes: dict[str, str],
    start: int,
    stop: int,
    kwargs: dict[str, Any],
    arrays: dict[str, Any],
) -> Any:
    """Run `fn(inputs, rows, **kwargs, **arrays)` on one slice of rows, wherever it landed.

    `arrays` arrive already cut to this shard's rows (e.g. perturbed copies of the inputs);
    the model and the audit data come from the worker's own cache, never over the wire.
    """
    return resolve(fn)(shard_inputs(spec_path, hashes), slice(start, stop), **kwargs, **arrays)


def map_shards(
    task_runner: TaskRunner,
    fn: str,
    spec_path: str,
    hashes: Mapping[str, str],
    n_rows: int,
    shards: int,
    kwargs: Mapping[str, Any] | None = None,
    arrays: Mapping[str, Any] | None = None,
) -> list[Any]:
    """One task per shard on a started task runner; results come back in row order."""
    futures = [
        task_runner.submit(
            shard_task,
            parameters={
                "fn": fn,
                "spec_path": str(spec_path),
                "hashes": dict(hashes),
                "start": start,
                "stop": stop,
                "kwargs": dict(kwargs or {}),
                "arrays": {k: v[start:stop] for k, v in (arrays or {}).items()},
            },
        )
        for start, stop in shard_bounds(n_rows, shards)
    ]
    return [f.result() for f in futures]


@dataclass(frozen=True)
class RowMapper:
    """What a check calls to spread per-row work: `mapper(fn, n_rows, kwargs, arrays)`.

    Bound to a started task runner and to the audit's files, so a check needs to know
    nothing about Prefect or Dask; see docs/scheduling.md (scale-out).
    """

    task_runner: TaskRunner
    spec_path: str
    hashes: Mapping[str, str]
    shards: int

    def __call__(
        self,
        fn: str,
        n_rows: int,
        kwargs: Mapping[str, Any] | None = None,
        arrays: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        return map_shards(
            self.task_runner, fn, self.spec_path, self.hashes, n_rows, self.shards, kwargs, arrays
        )


@task(name="check", task_run_name="check-{check}", cache_policy=NO_CACHE)
def remote_check_task(
    check: str,
    spec_path: str,
    hashes: dict[str, str],
    predictions: Any,
    min_group_size: int,
    confidence: float,
) -> Any:
    """One whole check on a worker: never raises, a crash is an `error` run (fail-closed)."""
    from audit import pipeline
    from audit.checks.base import CheckContext

    inputs = shard_inputs(spec_path, hashes)
    ctx = CheckContext(
        model=inputs.runner,
        data=inputs.data,
        predictions=predictions,
        config=getattr(inputs.spec.checks, check),
        seed=inputs.spec.seed,
        min_group_size=min_group_size,
        confidence=confidence,
    )
    return pipeline.measure(check, ctx, timeout=inputs.spec.runner.check_timeout)


def run_checks(loaded: Any, predictions: Any, names: Sequence[str], runner: RunnerSpec) -> list:
    """Submit each check to a Dask task runner; the workers load the model themselves."""
    defaults = loaded.policy.defaults
    with task_runner_for(runner) as dask_runner:
        futures = [
            dask_runner.submit(
                remote_check_task,
                parameters={
                    "check": name,
                    "spec_path": str(loaded.spec_path),
                    "hashes": dict(loaded.hashes),
                    "predictions": predictions,
                    "min_group_size": defaults.min_group_size,
                    "confidence": defaults.confidence,
                },
            )
            for name in names
        ]
        return [f.result() for f in futures]


def concat(parts: Sequence[Any]) -> Any:
    """Join per-shard numpy results along the row axis."""
    import numpy as np

    return np.concatenate(list(parts), axis=0)


__all__ = [
    "RowMapper",
    "ShardInputs",
    "concat",
    "map_shards",
    "prime",
    "remote_check_task",
    "resolve",
    "run_checks",
    "runner_override",
    "shard_bounds",
    "shard_inputs",
    "shard_task",
    "task_runner_for",
]


def predict_rows(inputs: ShardInputs, rows: slice) -> Any:
    """Class probabilities of one slice of rows (bias needs only these, so they shard)."""
    return inputs.runner.predict_proba(inputs.data.x[rows], batch_size=inputs.spec.data.batch_size)
