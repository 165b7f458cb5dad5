"""The audit's stages as plain functions, the one pipeline of every run.

load → read baseline → predict → measure → add regressions → judge → assemble (+ history) →
publish → record. `run_audit` chains them directly, so the whole pipeline is callable and
testable without Prefect; `flows/audit_flow.py` maps the same stages to Prefect tasks,
artifacts and task runners and adds no domain logic.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from audit import progress, registry
from audit.checks.base import CheckContext, CheckOutput, Predictions
from audit.errors import ModelError, ReportError
from audit.fsio import write_atomic
from audit.ledger import (
    Ledger,
    LedgerEntry,
    drift,
    history_evidence,
    regression_metrics,
)
from audit.loaders.data import Dataset, data_sha256, load_dataset
from audit.loaders.images import require_readable_share
from audit.loaders.model import ModelRunner, load_runner, model_provenance
from audit.loaders.preprocess import preprocessing_sha256
from audit.policy import Policy, judge, load_policy
from audit.policy.crosswalk import framework_mapping
from audit.policy.gate import junit_xml, summary_markdown
from audit.records import (
    REGRESSION_SUFFIX,
    AuditResult,
    CheckRun,
    Finding,
    Metric,
    Provenance,
    Verdict,
)
from audit.signing import LoadedSigner, load_signer, sign_pdf
from audit.spec import AuditSpec, load_spec, sha256_file

_VERSIONED = ("torch", "captum", "fairlearn", "audit", "prefect", "weasyprint", "pyhanko")


@dataclass(frozen=True)
class Loaded:
    """Everything read from disk before any measurement, with its provenance hashes."""

    spec: AuditSpec
    spec_path: Path
    spec_text: str
    runner: ModelRunner
    data: Dataset
    policy: Policy
    signer: LoadedSigner
    hashes: Mapping[str, str]


@dataclass(frozen=True)
class CheckResult:
    run: CheckRun
    output: CheckOutput = field(default_factory=lambda: CheckOutput(metrics=()))


@dataclass(frozen=True)
class Published:
    out_dir: Path
    findings: Path
    junit: Path
    report: Path
    extra: Mapping[str, Path] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # for the CLI to print: a key created on first use, key warnings


def _versions() -> dict[str, str]:
    out = {}
    for pkg in _VERSIONED:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def preflight(spec: AuditSpec, data: Dataset) -> None:
    """Cross-check each enabled check's section against the data before any model work, so a
    mistake that would only surface as a check error (and an `error` report) stops the run."""
    for name, config in spec.checks.enabled().items():
        plugin = registry.plugin(name)
        plugin.preflight(plugin.configure(config, spec), data)


def load(spec_path: str | Path, *, policy: str | None = None) -> Loaded:
    """Read spec, policy, signing key, data and model; fail fast on anything unusable."""
    path = Path(spec_path)
    spec = load_spec(path)
    pol = load_policy(policy) if policy else load_policy(spec.policy, base_dir=path.parent)
    signer = load_signer(spec.signing)
    with progress.stage("Loading the data"):
        data = load_dataset(spec.data, spec.model)
    if data.unreadable:
        require_readable_share(
            data.unreadable, data.listed, pol.defaults.max_unreadable_share, str(spec.data.path)
        )
    preflight(spec, data)
    with progress.stage("Loading the model"):
        runner = load_runner(spec.model, data)
    hashes = {
        **model_provenance(spec.model),
        "data": data.sha256 or data_sha256(spec.data, spec.model),
        "spec": sha256_file(path),
        "policy": pol.sha256,
    }
    if data.encoder is not None:
        hashes.setdefault("tokenizer", data.encoder.sha256)
    if (preprocess := runner.preprocess) is not None:
        hashes["preprocessing"] = preprocessing_sha256(preprocess.describe())
    return Loaded(
        spec=spec,
        spec_path=path,
        spec_text=path.read_text(encoding="utf-8"),
        runner=runner,
        data=data,
        policy=pol,
        signer=signer,
        hashes=hashes,
    )


def predict(loaded: Loaded) -> Predictions:
    """Class probabilities and decisions for every row, computed once in chunks."""
    with progress.stage("Predicting every row", total=len(loaded.data.x)) as shown:
        proba = loaded.runner.predict_proba(
            loaded.data.x, batch_size=loaded.spec.data.batch_size, on_rows=shown.advance
        )
    if loaded.runner.task == "multiclass":
        n_classes = proba.shape[1]
        if loaded.data.y.max() >= n_classes:
            raise ModelError(
                f"labels go up to {int(loaded.data.y.max())}, "
                f"but the model has {n_classes} classes.",
                where="data.label",
            )
    return Predictions(proba=proba, label=loaded.runner.decide(proba))


def context(loaded: Loaded, predictions: Predictions, check: str) -> CheckContext:
    return CheckContext(
        model=loaded.runner,
        data=loaded.data,
        predictions=predictions,
        config=registry.plugin(check).configure(loaded.spec.checks.enabled()[check], loaded.spec),
        seed=loaded.spec.seed,
        min_group_size=loaded.policy.defaults.min_group_size,
        confidence=loaded.policy.defaults.confidence,
        exclude_small_groups=loaded.policy.defaults.small_groups.exclusion(),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def prepare_checks(names: Sequence[str]) -> None:
    """Import every named check's implementation in this thread, one after another, so that
    checks started concurrently never import the same packages at once (`CheckPlugin.prepare`).
    """
    for name in names:
        registry.plugin(name).prepare()


def measure(check: str, ctx: CheckContext, *, timeout: float) -> CheckResult:
    """Run one check; a crash or a timeout becomes an `error` run, never a silent pass."""
    done: list[CheckOutput] = []
    failed: list[BaseException] = []
    started = time.perf_counter()

    def target() -> None:
        try:
            done.append(registry.plugin(check).measure(ctx))
        except BaseException as exc:  # recorded, judged as error downstream
            failed.append(exc)

    worker = threading.Thread(target=target, name=f"check-{check}", daemon=True)
    with progress.stage(f"Check: {registry.plugin(check).title}") as shown:
        worker.start()
        worker.join(timeout)
        if failed or worker.is_alive():
            shown.fail()
    seconds = time.perf_counter() - started
    if worker.is_alive():
        msg = f"timed out after {timeout:g} s (runner.check_timeout)"
        return CheckResult(CheckRun(check, "error", msg, seconds))
    if failed:
        return CheckResult(CheckRun(check, "error", _first_line(failed[0]), seconds))
    output = done[0]
    run = CheckRun(check, "ran", "", seconds, not_applicable=dict(output.not_applicable))
    return CheckResult(run, output)


def skipped_runs(spec: AuditSpec) -> list[CheckResult]:
    return [
        CheckResult(CheckRun(name, "skipped", "switched off in the spec"))
        for name, cfg in spec.checks
        if cfg is False
    ]


def judge_results(
    loaded: Loaded, results: Sequence[CheckResult], *, fail_on: str = "blocker"
) -> tuple[tuple[Finding, ...], Verdict]:
    metrics = [m for r in results for m in r.output.metrics]
    runs = [r.run for r in results]
    return judge(loaded.policy, metrics, runs, today=dt.date.today(), fail_on=fail_on)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def assemble(
    loaded: Loaded,
    results: Sequence[CheckResult],
    findings: Sequence[Finding],
    verdict: Verdict,
    *,
    started_at: str,
) -> AuditResult:
    """Freeze everything the report, gate and ledger need into one `AuditResult`."""
    order = {name: i for i, (name, _) in enumerate(loaded.spec.checks)}
    ordered = sorted(results, key=lambda r: order.get(r.run.check, 99))
    metrics: list[Metric] = [m for r in ordered for m in r.output.metrics]
    spec = loaded.spec
    return AuditResult(
        name=spec.name,
        started_at=started_at,
        finished_at=now_iso(),
        verdict=verdict,
        policy=loaded.policy.info(),
        provenance=Provenance(
            model_sha256=loaded.hashes["model"],
            data_sha256=loaded.hashes["data"],
            spec_sha256=loaded.hashes["spec"],
            policy_sha256=loaded.hashes["policy"],
            seed=spec.seed,
            versions=_versions(),
        ),
        metrics=tuple(metrics),
        findings=tuple(findings),
        check_runs=tuple(r.run for r in ordered),
        spec_text=loaded.spec_text,
        model_info=_model_info(loaded),
        data_info=_data_info(loaded),
        evidence={r.run.check: r.output.evidence for r in ordered if r.output.evidence is not None},
        framework_mapping=framework_mapping(loaded.policy.rules, findings),
    )


def _model_info(loaded: Loaded) -> dict[str, Any]:
    """What the report's model card and findings.json say about the model."""
    spec, hashes = loaded.spec, loaded.hashes
    info: dict[str, Any] = {
        "name": spec.name,
        "version": spec.model.version or "not stated",
        "source": str(spec.model.path or spec.model.factory),
        "format": spec.model.source_format(),
        "task": spec.model.task,
        "modality": spec.model.modality,
        "output": spec.model.output,
        "classes": loaded.runner.n_classes,
        "decision_threshold": spec.model.decision_threshold,
    }
    for key in ("model_config", "model_weights", "tokenizer", "preprocessor", "preprocessing"):
        if key in hashes:
            info[f"{key.removeprefix('model_')}_sha256"] = hashes[key]
    if (preprocess := loaded.runner.preprocess) is not None:
        info["preprocessing"] = preprocess.describe()
    return info


def _data_info(loaded: Loaded) -> dict[str, Any]:
    """What the report and findings.json say about the data; raw text adds its tokenization."""
    spec, data = loaded.spec, loaded.data
    info: dict[str, Any] = {
        "source": str(spec.data.path),
        "rows": len(data),
        "label": spec.data.label,
        "features": len(data.feature_names) or None,
        "sensitive": list(spec.data.sensitive),
        "positive_rate": float(np.mean(data.y == 1)),
    }
    if data.listed:
        info |= {
            "images_listed": data.listed,
            "image_size": list(data.x.shape[-2:]),
            "unreadable_files": [{"path": u.path, "reason": u.reason} for u in data.unreadable],
        }
        if data.class_names:
            info["class_names"] = list(data.class_names)
    if data.encoder is not None:
        info |= {
            "text_column": spec.data.text,
            "max_tokens": data.encoder.max_length,
            "truncated_rows": data.truncated,
        }
    return info


def default_out_dir(name: str) -> Path:
    """A new folder per run: a timestamp, and a random suffix for two runs in one second."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("audit-out") / name / f"{stamp}-{secrets.token_hex(3)}"


def out_dir_for(name: str, out_dir: str | Path | None, out_root: str | Path | None) -> Path:
    """`out_dir` as given, else a new `<out_root or audit-out>/<name>/<timestamp>` (scheduled
    runs must never overwrite a report the ledger points to)."""
    if out_dir is not None:
        return Path(out_dir)
    default = default_out_dir(name)
    return Path(out_root, *default.parts[1:]) if out_root is not None else default


@dataclass(frozen=True)
class Baseline:
    """The ledger's view of this spec's past: the last audit, and the last passing one."""

    last: LedgerEntry | None = None
    last_pass: LedgerEntry | None = None


NO_BASELINE = "no earlier passing audit of this spec in the ledger to compare with"


def read_baseline(name: str, ledger_url: str | None) -> Baseline:
    """The last audit of this spec and the last passing one (None where there is none)."""
    with Ledger(ledger_url) as led:
        return Baseline(led.previous(name), led.previous(name, passing_only=True))


def add_regressions(
    results: Sequence[CheckResult], baseline: Baseline, policy: Policy
) -> list[CheckResult]:
    """Add each check's `<metric>_change_since_last_pass` to its own output, so a plain
    threshold rule can gate on a regression. A first audit has nothing to regress from: its
    regression rules are declared not applicable, with the reason."""
    out = []
    for r in results:
        if baseline.last_pass is None:
            names = {
                rule.metric: NO_BASELINE
                for rule in policy.rules
                if rule.check == r.run.check and rule.metric.endswith(REGRESSION_SUFFIX)
            }
            run = replace(r.run, not_applicable={**r.run.not_applicable, **names})
            out.append(replace(r, run=run))
        else:
            extra = regression_metrics(r.output.metrics, baseline.last_pass.metrics)
            output = replace(r.output, metrics=(*r.output.metrics, *extra))
            out.append(replace(r, output=output))
    return out


def add_history(result: AuditResult, baseline: Baseline) -> AuditResult:
    """The report's "since the last audit" evidence, when there was a last audit."""
    last = baseline.last
    if last is None:
        return result
    since = drift(result.metrics, last.metrics, result.findings, last.findings)
    history = history_evidence(last, since)
    return replace(result, evidence={**result.evidence, "history": history})


def record(
    result: AuditResult, report: Path, ledger_url: str | None, *, run_id: str | None = None
) -> LedgerEntry:
    """Append the finished audit to the ledger (after its signed report is on disk)."""
    with Ledger(ledger_url) as led:
        return led.record(result, report, run_id=run_id)


def publish(
    result: AuditResult,
    loaded: Loaded,
    out_dir: Path,
    *,
    formats: Sequence[str] = ("pdf",),
    summary_md: Path | None = None,
) -> Published:
    """Render and sign in memory, then write each file atomically: the signed report first,
    the machine-read verdicts (junit.xml, then findings.json) last.

    A run killed midway thus never leaves a findings.json or junit.xml that a CI gate could
    take for a finished audit without the signed report beside it, and a failed write (a full
    disk) removes what this call already wrote, so no report.pdf is left behind either.
    """
    from audit.report import render_html, render_pdf

    out_dir = Path(out_dir)
    findings_bytes = json.dumps(result.findings_json(), indent=2, sort_keys=False).encode()
    with progress.stage("Rendering and signing the report"):
        pdf = render_pdf(
            result,
            signer=loaded.signer.subject,
            attachments={
                "findings.json": findings_bytes,
                "spec.yaml": loaded.spec_text.encode(),
                "policy.yaml": result.policy.text.encode(),
            },
        )
        signed = sign_pdf(
            pdf,
            loaded.signer,
            tsa_url=loaded.spec.signing.tsa_url if loaded.spec.signing else None,
            visible=bool(loaded.spec.signing and loaded.spec.signing.visible),
            reason=f"Audit {result.name}: verdict {result.verdict.value}",
        )
    files: list[tuple[str, Path, bytes | str]] = [("report", out_dir / "report.pdf", signed)]
    if "html" in formats:
        html = render_html(result, signer=loaded.signer.subject)
        files.append(("html", out_dir / "report.html", html))
    if summary_md is not None:
        files.append(("summary", Path(summary_md), summary_markdown(result)))
    files.append(("junit", out_dir / "junit.xml", junit_xml(result)))
    files.append(("findings", out_dir / "findings.json", findings_bytes))
    written: dict[str, Path] = {}
    try:
        for label, path, payload in files:
            written[label] = write_atomic(path, payload)
    except ReportError:
        for path in written.values():
            path.unlink(missing_ok=True)
        raise
    report, junit, findings = written.pop("report"), written.pop("junit"), written.pop("findings")
    extra = written
    notes = loaded.signer.warnings
    if loaded.signer.created:
        notes = (f"Created a signing key at {loaded.signer.key_path} (first use).", *notes)
    return Published(
        out_dir=out_dir, findings=findings, junit=junit, report=report, extra=extra, notes=notes
    )


def run_audit(
    spec_path: str | Path,
    out_dir: Path | None = None,
    *,
    policy: str | None = None,
    fail_on: str = "blocker",
    formats: Sequence[str] = ("pdf",),
    summary_md: Path | None = None,
    ledger_url: str | None = None,
    out_root: Path | None = None,
) -> tuple[AuditResult, Published]:
    """The whole pipeline without Prefect (tests, benchmarks, embedding in other tools).

    The same stages as the Prefect flow (`flows.audit_flow`), in the same order, so the same
    spec and ledger give the same findings either way: load, read the baseline, predict,
    measure, add regressions, judge, assemble (with the history), publish, record.
    """
    started = now_iso()
    loaded = load(spec_path, policy=policy)
    baseline = read_baseline(loaded.spec.name, ledger_url)
    predictions = predict(loaded)
    timeout = loaded.spec.runner.check_timeout
    measured = [
        measure(name, context(loaded, predictions, name), timeout=timeout)
        for name in loaded.spec.checks.enabled()
    ]
    results = add_regressions(measured, baseline, loaded.policy) + skipped_runs(loaded.spec)
    findings, verdict = judge_results(loaded, results, fail_on=fail_on)
    result = add_history(assemble(loaded, results, findings, verdict, started_at=started), baseline)
    target = out_dir_for(loaded.spec.name, out_dir, out_root)
    published = publish(result, loaded, target, formats=formats, summary_md=summary_md)
    record(result, published.report, ledger_url)
    return result, published


__all__ = [
    "NO_BASELINE",
    "Baseline",
    "CheckResult",
    "Loaded",
    "Published",
    "add_history",
    "add_regressions",
    "assemble",
    "context",
    "judge_results",
    "load",
    "measure",
    "out_dir_for",
    "predict",
    "preflight",
    "publish",
    "read_baseline",
    "record",
    "run_audit",
    "skipped_runs",
]
