"""Wall time of `audit demo` (tabular), split by stage.

Stages run through the library pipeline with a timer around each; the Prefect overhead is the
difference between the same audit through the flow (with its temporary API server) and the
direct pipeline. Run: `.venv/bin/python bench/demo.py` (uses a throw-away AUDIT_HOME).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["AUDIT_HOME"] = tempfile.mkdtemp(prefix="bench-demo-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def timed(label: str, times: dict[str, float], fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    times[label] = time.perf_counter() - start
    return out


def main() -> None:
    from audit import pipeline
    from audit.demo import build_demo

    times: dict[str, float] = {}
    spec = timed("train model (first use)", times, build_demo, "tabular")
    timed("build demo (cached)", times, build_demo, "tabular")
    started = pipeline.now_iso()
    loaded = timed("load spec, policy, key, data, model", times, pipeline.load, spec)
    preds = timed("predictions", times, pipeline.predict, loaded)
    results = []
    for name in loaded.spec.checks.enabled():
        ctx = pipeline.context(loaded, preds, name)
        results.append(timed(f"check: {name}", times, pipeline.measure, name, ctx, timeout=3600))
    findings, verdict = timed("judge", times, pipeline.judge_results, loaded, results)
    result = pipeline.assemble(loaded, results, findings, verdict, started_at=started)

    from audit.report import render_pdf
    from audit.signing import sign_pdf

    attachments = {"findings.json": b"{}", "spec.yaml": loaded.spec_text.encode()}
    pdf = timed(
        "render PDF",
        times,
        render_pdf,
        result,
        signer=loaded.signer.subject,
        attachments=attachments,
    )
    timed("sign PDF", times, sign_pdf, pdf, loaded.signer)

    out = Path(tempfile.mkdtemp())
    direct = time.perf_counter()
    pipeline.run_audit(spec, out / "direct")
    times["whole audit, direct pipeline"] = time.perf_counter() - direct

    from flows.audit_flow import audit_flow

    flowed = time.perf_counter()
    audit_flow(spec_path=str(spec), out_dir=str(out / "flow"))
    times["whole audit, Prefect flow (temporary server)"] = time.perf_counter() - flowed
    times["Prefect overhead"] = (
        times["whole audit, Prefect flow (temporary server)"]
        - times["whole audit, direct pipeline"]
    )

    print("| stage | seconds |\n|---|---:|")
    for label, seconds in times.items():
        print(f"| {label} | {seconds:.2f} |")
    print(f"\n{len(loaded.data)} rows; python {sys.version.split()[0]}; {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
