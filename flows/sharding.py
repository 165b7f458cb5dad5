"""Scale-out through Prefect's task runners: pick the runner, spread per-row work over it.

The default is a thread pool in the flow's process. `runner: {kind: dask}` in the spec runs
the heavy per-row work on Dask through `prefect-dask`: on an existing scheduler (`address`)
or on a `LocalCluster` of `workers` single-threaded processes started for the run. The checks
themselves stay in the flow's process; what they hand to `CheckContext.map_rows`
(attributions, perturbed predictions, attacks, the min-flip search) becomes one Prefect task
per shard on the Dask workers, through `RowMapper`.

On a Dask worker the model and data are loaded once per process and kept, keyed on the
provenance hashes of the files (a torch module pickles and hashes differently in every
process, so the files' sha256 is the only stable key); tasks carry only the spec path, the
hashes and row bounds, never the model. The worker re-hashes the files on first load, so a
model or dataset replaced on disk mid-audit is an error rather than a silent mix.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from pydantic import ValidationError

from audit.checks.rows import resolve
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
            "dashboard_address": ":0",  # its HTTP server starts anyway; 8787 may be taken
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
    """Run `fn(model, rows, **kwargs, **arrays)` on one slice of rows, wherever it landed.

    `arrays` arrive already cut to this shard's rows (e.g. perturbed copies of the inputs);
    the model comes from the worker's own cache, never over the wire.
    """
    model = shard_inputs(spec_path, hashes).runner
    return resolve(fn)(model, slice(start, stop), **kwargs, **arrays)


@dataclass(frozen=True)
class RowMapper:
    """`audit.checks.rows.RowMapper` on a started Prefect task runner: one task per shard.

    Bound to the audit's files, so a check needs to know nothing about Prefect or Dask; see
    docs/scheduling.md (scale-out).
    """

    task_runner: TaskRunner
    spec_path: str
    hashes: Mapping[str, str]
    shards: int
    # The flow's context, captured where the mapper is made: a task submitted from inside a
    # check's task would carry (and pickle) that task's parameters, the model among them.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)

    def __post_init__(self) -> None:
        # prefect-dask makes its client (and LocalCluster) on first use, without a lock: two
        # checks submitting at once would start two clusters, so it is made here, once
        getattr(self.task_runner, "client", None)

    def __call__(
        self,
        fn: str,
        slices: Sequence[slice],
        kwargs: Mapping[str, Any],
        arrays: Mapping[str, Any],
    ) -> list[Any]:
        futures = self.context.copy().run(self._submit, fn, slices, kwargs, arrays)
        return [f.result() for f in futures]

    def _submit(
        self,
        fn: str,
        slices: Sequence[slice],
        kwargs: Mapping[str, Any],
        arrays: Mapping[str, Any],
    ) -> list[Any]:
        return [
            self.task_runner.submit(
                shard_task,
                parameters={
                    "fn": fn,
                    "spec_path": self.spec_path,
                    "hashes": dict(self.hashes),
                    "start": rows.start,
                    "stop": rows.stop,
                    "kwargs": dict(kwargs),
                    "arrays": {k: v[rows] for k, v in arrays.items()},
                },
            )
            for rows in slices
        ]


__all__ = [
    "RowMapper",
    "ShardInputs",
    "runner_override",
    "shard_inputs",
    "shard_task",
    "task_runner_for",
]
