"""Scale-out through Prefect's task runners: pick the runner, spread per-row work over it.

The default is a thread pool in the flow's process. `runner: {kind: dask}` in the spec runs
the heavy per-row work on Dask through `prefect-dask`: on an existing scheduler (`address`)
or on a `LocalCluster` of `workers` single-threaded processes started for the run. The checks
themselves stay in the flow's process as Prefect tasks; what they hand to
`CheckContext.map_rows` (attributions, perturbed predictions, attacks, the min-flip search)
becomes one Dask task per shard on the cluster of the flow's `DaskTaskRunner`, through
`DaskRowMapper`. Shards are plain Dask tasks, not Prefect task runs: a Prefect task run costs
about 0.15 s of API bookkeeping on the worker, which doubled the stage on the tabular demo
(docs/benchmarks.md, scale-out).

On a Dask worker the model and data are loaded once per process and kept, keyed on the
provenance hashes of the files (a torch module pickles and hashes differently in every
process, so the files' sha256 is the only stable key); tasks carry only the spec path, the
hashes and row bounds, never the model. The worker re-hashes the files on first load, so a
model or dataset replaced on disk mid-audit is an error rather than a silent mix.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from pydantic import ValidationError

from audit.checks.rows import cut, resolve
from audit.errors import SpecError
from audit.loaders.data import Dataset, data_sha256, load_dataset
from audit.loaders.model import ModelRunner, load_runner, model_sha256
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
        "data": data_sha256(spec.data, spec.model),
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
            runner = load_runner(spec.model, data)
            _CACHE[key] = ShardInputs(spec=spec, runner=runner, data=data)
        return _CACHE[key]


def run_shard(
    fn: str,
    spec_path: str,
    hashes: Mapping[str, str],
    rows: slice,
    kwargs: Mapping[str, Any],
    arrays: Mapping[str, Any],
) -> Any:
    """Run `fn(model, rows, **kwargs, **arrays)` on one slice of rows, wherever it landed.

    `arrays` arrive already cut to this shard's rows (e.g. perturbed copies of the inputs);
    the model comes from the worker's own cache, never over the wire.
    """
    model = shard_inputs(spec_path, hashes).runner
    return resolve(fn)(model, rows, **kwargs, **arrays)


@dataclass(frozen=True)
class DaskRowMapper:
    """`audit.checks.rows.RowMapper` on a started `DaskTaskRunner`: one Dask task per shard.

    Bound to the audit's files, so a check needs to know nothing about Prefect or Dask; see
    docs/scheduling.md (scale-out).
    """

    task_runner: Any  # prefect_dask.DaskTaskRunner, started
    spec_path: str
    hashes: Mapping[str, str]
    shards: int
    sent: Counter[str] = field(default_factory=Counter)  # shard tasks per function, for logs
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        # prefect-dask makes its client (and LocalCluster) on first use, without a lock: two
        # checks submitting at once would start two clusters, so it is made here, once
        _ = self.task_runner.client

    def __call__(
        self,
        fn: str,
        slices: Sequence[slice],
        kwargs: Mapping[str, Any],
        arrays: Mapping[str, Any],
    ) -> list[Any]:
        from distributed import Client

        client = self.task_runner.client
        name = fn.rpartition(":")[2]
        with self._lock:
            self.sent[name] += len(slices)
        futures = [
            # the plain Dask submit: PrefectDaskClient.submit would wrap each shard in a
            # Prefect task run (see the module docstring)
            Client.submit(
                client,
                run_shard,
                fn,
                self.spec_path,
                dict(self.hashes),
                rows,
                dict(kwargs),
                cut(arrays, rows),
                key=f"{name}[{rows.start}:{rows.stop}]-{uuid.uuid4().hex[:8]}",
                pure=False,
            )
            for rows in slices
        ]
        return client.gather(futures)


__all__ = [
    "DaskRowMapper",
    "ShardInputs",
    "run_shard",
    "runner_override",
    "shard_inputs",
    "task_runner_for",
]
