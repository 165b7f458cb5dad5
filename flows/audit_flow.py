"""The audit as a Prefect flow: one task per stage, the checks as concurrent tasks.

All logic lives in `audit.pipeline`; this module only adds orchestration: retries for I/O,
concurrency for the checks after one shared prediction task, artifacts for the Prefect UI,
and a run name that carries the audit name and the model hash (added once `load` has hashed
the model, so the file is read once).

The stages, baseline and regressions included, are `audit.pipeline`'s, composed in the same
order as `run_audit`, so both give the same findings. Scale-out: `spec.runner.kind: dask` (or the
`runner` parameter) spreads the checks' per-row work over Dask workers (`flows.sharding`);
`spec.runner.cache` reuses predictions and measurements across runs, keyed on the provenance
hashes.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE, CacheKeyFnPolicy
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from audit import ledger as audit_ledger
from audit import paths, pipeline, progress
from audit.checks.base import Predictions
from audit.errors import AuditError
from audit.policy.gate import summary_markdown
from audit.presentation.format import threshold_text
from audit.records import AuditResult, Finding, Verdict
from audit.spec import RunnerSpec, load_spec
from flows import cancel, sharding


def _transient(task_: Any, task_run: Any, state: Any) -> bool:
    """Retry only I/O hiccups: a typed AuditError (bad input) fails at once."""
    return not isinstance(state.result(raise_on_failure=False), AuditError)


@functools.cache
def _code_version() -> str:
    """Measurements depend on the check and loader code too, not only on the inputs, and on
    the data files a check ships (identity lexicon and templates, synonym lists)."""
    root = paths.repo_dir() / "audit"
    digest = hashlib.sha256()
    shipped = [f for f in root.glob("checks/**/*") if f.is_file() and "__pycache__" not in f.parts]
    for file in sorted([*shipped, *root.glob("loaders/*.py"), root / "tokenization.py"]):
        digest.update(file.relative_to(root).as_posix().encode() + file.read_bytes())
    for pkg, version in sorted(pipeline._versions().items()):
        digest.update(f"{pkg}={version}".encode())
    return digest.hexdigest()


def _provenance_key(loaded: pipeline.Loaded, *parts: object) -> str:
    h = loaded.hashes
    text = "|".join([h["model"], h["data"], h["spec"], _code_version(), *map(str, parts)])
    return hashlib.sha256(text.encode()).hexdigest()


def _predict_key(ctx: TaskRunContext, params: dict[str, Any]) -> str:
    return _provenance_key(params["loaded"], "predict")


def _check_key(ctx: TaskRunContext, params: dict[str, Any]) -> str:
    """Keyed on file hashes (a torch module hashes differently in every process) plus the
    policy defaults the checks read, so a re-judge under another policy reuses measurements."""
    loaded, defaults = params["loaded"], params["loaded"].policy.defaults
    return _provenance_key(
        loaded, "check", params["check"], defaults.min_group_size, defaults.confidence
    )


class _CheckErrored(Exception):
    """Fails a cached check task so an `error` run is never stored and replayed as cached."""

    def __init__(self, result: pipeline.CheckResult):
        super().__init__(result.run.message)
        self.result = result


def _cached(task_: Any, key_fn: Any) -> Any:
    return task_.with_options(
        cache_policy=CacheKeyFnPolicy(cache_key_fn=key_fn), persist_result=True
    )


@task(
    name="load",
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
)
def load_task(spec_path: str, policy: str | None) -> pipeline.Loaded:
    return pipeline.load(spec_path, policy=policy)


@task(name="predict", cache_policy=NO_CACHE)
def predict_task(loaded: pipeline.Loaded) -> Predictions:
    return pipeline.predict(loaded)


@task(name="check", task_run_name="check-{check}", cache_policy=NO_CACHE)
def check_task(
    check: str,
    loaded: pipeline.Loaded,
    predictions: Predictions,
    rows: sharding.DaskRowMapper | None = None,
) -> pipeline.CheckResult:
    """Never raises: a crashing check comes back as an `error` run (fail-closed, not retried).

    With `rows`, the check's per-row work runs as shard tasks on that mapper's task runner.
    """
    ctx = dataclasses.replace(pipeline.context(loaded, predictions, check), rows=rows)
    return pipeline.measure(check, ctx, timeout=loaded.spec.runner.check_timeout)


@task(name="check", task_run_name="check-{check}", cache_policy=NO_CACHE)
def cacheable_check_task(
    check: str,
    loaded: pipeline.Loaded,
    predictions: Predictions,
    rows: sharding.DaskRowMapper | None = None,
) -> pipeline.CheckResult:
    """`check_task` for the cached path: an `error` run fails the task (never cached). The key
    ignores `rows`: any runner measures the same."""
    result = check_task.fn(check, loaded, predictions, rows)
    if result.run.state == "error":
        raise _CheckErrored(result)
    return result


@task(name="judge", cache_policy=NO_CACHE)
def judge_task(
    loaded: pipeline.Loaded, results: list[pipeline.CheckResult], fail_on: str
) -> tuple[tuple[Finding, ...], Verdict]:
    return pipeline.judge_results(loaded, results, fail_on=fail_on)


@task(name="publish", retries=1, retry_condition_fn=_transient, cache_policy=NO_CACHE)
def publish_task(
    result: AuditResult,
    loaded: pipeline.Loaded,
    out_dir: str,
    formats: list[str],
    summary_md: str | None,
) -> pipeline.Published:
    summary = Path(summary_md) if summary_md else None
    return pipeline.publish(result, loaded, Path(out_dir), formats=formats, summary_md=summary)


@task(name="ledger-read", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def baseline_task(name: str, ledger_url: str | None) -> pipeline.Baseline:
    return pipeline.read_baseline(name, ledger_url)


@task(
    name="ledger-record",
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
)
def record_task(
    result: AuditResult, report: str, ledger_url: str | None
) -> audit_ledger.LedgerEntry:
    run_id = str(flow_run.id) if flow_run.id else None
    return pipeline.record(result, Path(report), ledger_url, run_id=run_id)


def _measure(
    loaded: pipeline.Loaded, predictions: Predictions, runner: RunnerSpec
) -> list[pipeline.CheckResult]:
    """The checks as concurrent tasks in this process; on Dask, their per-row work is split
    into shard tasks on the workers (each loads the model once)."""
    names = list(loaded.spec.checks.enabled())
    if runner.kind != "dask":
        return _run_checks(loaded, predictions, names, runner.cache, None)
    with sharding.task_runner_for(runner) as dask_runner:
        rows = sharding.DaskRowMapper(
            dask_runner, str(loaded.spec_path), dict(loaded.hashes), runner.shards
        )
        results = _run_checks(loaded, predictions, names, runner.cache, rows)
    sent = ", ".join(f"{fn} ×{n}" for fn, n in sorted(rows.sent.items())) or "none"
    get_run_logger().info("Per-row work sent to Dask as shard tasks: %s", sent)
    return results


def _run_checks(
    loaded: pipeline.Loaded,
    predictions: Predictions,
    names: Sequence[str],
    cache: bool,
    rows: sharding.DaskRowMapper | None,
) -> list[pipeline.CheckResult]:
    check = _cached(cacheable_check_task, _check_key) if cache else check_task
    pipeline.prepare_checks(names)
    # quoted: Prefect would otherwise rebuild the mapper dataclass, and its tally with it;
    # Prefect's `submit` signature does not admit its own `quote` wrapper, hence the ignore
    futures = [check.submit(name, loaded, predictions, quote(rows)) for name in names]  # type: ignore[call-overload]
    results = []
    for future in futures:
        try:
            results.append(future.result())
        except _CheckErrored as exc:  # only from the cached path
            results.append(exc.result)
    return results


def _run_name() -> str:
    """The audit's name at start; `_name_run` adds the model hash once `load` has it."""
    try:
        return load_spec(flow_run.parameters["spec_path"]).name
    except (AuditError, OSError):
        return "audit-unreadable-spec"


def _name_run(loaded: pipeline.Loaded) -> None:
    """Rename the run `<audit>-<model sha256[:12]>` from the hash `load` computed, so a
    multi-gigabyte model file is hashed once. A failed rename is logged, never fatal."""
    name = f"{loaded.spec.name}-{loaded.hashes['model'][:12]}"
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run.id, name=name)
    except Exception as exc:  # the name is a convenience; the audit goes on without it
        get_run_logger().warning("Could not rename the flow run to %s: %s", name, exc)


def _artifacts(result: AuditResult, published: pipeline.Published) -> None:
    create_markdown_artifact(
        summary_markdown(result), key="audit-verdict", description=f"Verdict of {result.name}"
    )
    rows = [
        {
            "rule": f.rule,
            "subject": f.metric.subject if f.metric else "",
            "value": f.metric.value if f.metric else None,
            "threshold": threshold_text(f.threshold),
            "severity": f.severity.value,
            "status": f.status.value,
        }
        for f in result.findings
    ]
    create_table_artifact(rows, key="audit-findings", description="One row per rule and subject")
    create_link_artifact(
        published.report.resolve().as_uri(), link_text="Signed report (PDF)", key="audit-report"
    )


@flow(
    name="audit",
    flow_run_name=_run_name,
    # Prefect types task_runner too narrowly for its own runners (PrefectHQ/prefect#16938)
    task_runner=ThreadPoolTaskRunner(max_workers=4),  # type: ignore[arg-type]
    log_prints=False,
)
def audit_flow(
    spec_path: str,
    out_dir: str | None = None,
    policy: str | None = None,
    fail_on: str = "blocker",
    formats: list[str] | None = None,
    summary_md: str | None = None,
    runner: str | None = None,
    dask_address: str | None = None,
    ledger_url: str | None = None,
    out_root: str | None = None,
) -> tuple[AuditResult, pipeline.Published]:
    """Load, predict, run the checks concurrently, judge, assemble, render, sign, write, record.

    `runner` ("thread" | "dask") and `dask_address` override the spec's `runner` section;
    `ledger_url` overrides AUDIT_LEDGER_URL. Without `out_dir`, each run writes to a new
    `<out_root or audit-out>/<name>/<timestamp>` (scheduled runs must not overwrite reports
    the ledger points to).
    """
    started = pipeline.now_iso()
    cancel.watch_for_cancel()  # a cancel from the UI stops this process like SIGTERM
    # the steps go to the run's log, so the Prefect UI shows what a terminal shows
    with progress.reporting(progress.LogSink(get_run_logger())):
        loaded = load_task(spec_path, policy)
        _name_run(loaded)
        run_spec = sharding.runner_override(loaded.spec.runner, runner, dask_address)
        baseline = baseline_task(loaded.spec.name, ledger_url)
        predict = _cached(predict_task, _predict_key) if run_spec.cache else predict_task
        predictions = predict(loaded)
        measured = _measure(loaded, predictions, run_spec)
        results = pipeline.add_regressions(measured, baseline, loaded.policy)
        results += pipeline.skipped_runs(loaded.spec)
        findings, verdict = judge_task(loaded, results, fail_on)
        result = pipeline.add_history(
            pipeline.assemble(loaded, results, findings, verdict, started_at=started), baseline
        )
        target = str(pipeline.out_dir_for(loaded.spec.name, out_dir, out_root))
        published = publish_task(result, loaded, target, formats or ["pdf"], summary_md)
        record_task(result, str(published.report), ledger_url)
        _artifacts(result, published)
        return result, published
