"""The audit as a Prefect flow: one task per stage, the checks as concurrent tasks.

All logic lives in `audit.pipeline`; this module only adds orchestration: retries for I/O,
concurrency for the checks after one shared prediction task, artifacts for the Prefect UI,
and a run name that carries the audit name and the model hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.policy.gate import summary_markdown
from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from audit import pipeline
from audit.checks.base import Predictions
from audit.errors import AuditError
from audit.records import AuditResult, Finding, Verdict
from audit.spec import load_spec, sha256_file


def _transient(task_: Any, task_run: Any, state: Any) -> bool:
    """Retry only I/O hiccups: a typed AuditError (bad input) fails at once."""
    return not isinstance(state.result(raise_on_failure=False), AuditError)


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
    check: str, loaded: pipeline.Loaded, predictions: Predictions
) -> pipeline.CheckResult:
    """Never raises: a crashing check comes back as an `error` run (fail-closed, not retried)."""
    ctx = pipeline.context(loaded, predictions, check)
    return pipeline.measure(check, ctx, timeout=loaded.spec.runner.check_timeout)


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


def _run_name() -> str:
    params = flow_run.parameters
    try:
        spec = load_spec(params["spec_path"])
        source = spec.model.path or spec.model.weights
        digest = sha256_file(source)[:12] if source else "factory"
        return f"{spec.name}-{digest}"
    except (AuditError, OSError):
        return "audit-unreadable-spec"


def _artifacts(result: AuditResult, published: pipeline.Published) -> None:
    create_markdown_artifact(
        summary_markdown(result), key="audit-verdict", description=f"Verdict of {result.name}"
    )
    rows = [
        {
            "rule": f.rule,
            "subject": f.metric.subject if f.metric else "",
            "value": f.metric.value if f.metric else None,
            "threshold": str(f.threshold),
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
    task_runner=ThreadPoolTaskRunner(max_workers=4),
    log_prints=False,
)
def audit_flow(
    spec_path: str,
    out_dir: str | None = None,
    policy: str | None = None,
    fail_on: str = "blocker",
    formats: list[str] | None = None,
    summary_md: str | None = None,
) -> tuple[AuditResult, pipeline.Published]:
    """Load, predict, run the checks concurrently, judge, assemble, then render, sign, write."""
    started = pipeline.now_iso()
    loaded = load_task(spec_path, policy)
    predictions = predict_task(loaded)
    futures = [
        check_task.submit(name, loaded, predictions) for name in loaded.spec.checks.enabled()
    ]
    results = [f.result() for f in futures] + pipeline.skipped_runs(loaded.spec)
    findings, verdict = judge_task(loaded, results, fail_on)
    result = pipeline.assemble(loaded, results, findings, verdict, started_at=started)
    target = out_dir or str(pipeline.default_out_dir(loaded.spec.name))
    published = publish_task(result, loaded, target, formats or ["pdf"], summary_md)
    _artifacts(result, published)
    return result, published
