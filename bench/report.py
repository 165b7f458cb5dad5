"""Benchmark: render (and, when `audit.signing` is present, sign) a ~30-page report.

Goal (issue 5): render and sign a 30-page report in under 5 s on 2 cores. The baseline in the
same run is stock WeasyPrint rendering the same HTML with no plots at all, so the ratio shows
what the report's own work (view model, SVG plots, PDF/A packaging) costs on top of the engine
as shipped, and compares across machines of different speed.
Reports wall time and process CPU time (CPU time is robust to other jobs sharing the cores).

    PYTHONPATH=. python bench/report.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

from weasyprint import HTML

from audit.records import Finding, Metric, Severity, Status, Threshold
from audit.report import render_html, render_pdf
from audit.report.render import TEMPLATES, _LocalFetcher
from tests.unit.report.fixtures import make_result

DATA_URI = re.compile(r'<img src="data:image/svg\+xml;base64,[^"]+"')


def large_result():
    """The test fixture grown past 30 pages: more features, families and probes (17 figures)."""
    base = make_result()
    extra: list[Metric] = []
    findings: list[Finding] = []
    features = (
        "age_band",
        "region",
        "language",
        "disability",
        "veteran",
        "income_band",
        "education",
    )
    for f in features:
        for g in range(16):
            for name in (
                "selection_rate",
                "true_positive_rate",
                "false_positive_rate",
                "accuracy",
                "impact_ratio",
            ):
                v = 0.3 + 0.04 * (g % 7)
                extra.append(
                    Metric(
                        "bias",
                        name,
                        v,
                        feature=f,
                        group=f"{f}-{g}",
                        n=200 + g,
                        ci_low=v - 0.05,
                        ci_high=v + 0.05,
                    )
                )
        for agg in ("demographic_parity_ratio", "equalized_odds_difference"):
            m = Metric("bias", agg, 0.7, feature=f, ci_low=0.65, ci_high=0.75, n=200)
            extra.append(m)
            findings.append(
                Finding(
                    f"X-{agg}-{f}",
                    "bias",
                    agg,
                    Status.PASS,
                    Severity.MAJOR,
                    Threshold(">=", 0.6),
                    f"{agg} for {f} is 0.7.",
                    metric=m,
                )
            )
    families = (
        "shot_noise",
        "impulse_noise",
        "contrast",
        "pixelate",
        "brightness",
        "fog",
        "motion_blur",
    )
    for fam in families:
        for level in range(1, 6):
            for name in ("accuracy", "flip_rate", "accuracy_ratio"):
                v = 0.9 - 0.05 * level if name != "flip_rate" else 0.02 * level
                extra.append(
                    Metric(
                        "robustness",
                        name,
                        v,
                        perturbation=fam,
                        level=level,
                        n=1000,
                        ci_low=v - 0.02,
                        ci_high=v + 0.02,
                    )
                )
    for probe in ("patch[4,4,3,3]", "patch[10,10,2,2]", "patch[20,2,4,4]", "token[5]"):
        for variant, v in (
            ("insert", 0.3),
            ("remove", 0.2),
            ("location_null", 0.02),
            ("content_null", 0.1),
        ):
            extra.append(
                Metric(
                    "spurious",
                    "flip_rate",
                    v,
                    probe=probe,
                    perturbation=variant,
                    n=400,
                    ci_low=v - 0.03,
                    ci_high=v + 0.03,
                )
            )
    ev = dict(base.evidence)
    spurious = ev["spurious"]
    ev["spurious"] = dataclasses.replace(spurious, examples=spurious.examples * 3)
    return dataclasses.replace(
        base,
        metrics=base.metrics + tuple(extra),
        findings=base.findings + tuple(findings),
        evidence=ev,
    )


def _attachments(result) -> dict[str, bytes]:
    return {
        "findings.json": json.dumps(result.findings_json()).encode(),
        "spec.yaml": result.spec_text.encode(),
    }


def _signer(folder: Path):
    try:
        from audit.signing import init_keys, load_signer, sign_pdf
        from audit.spec import SigningSpec
    except ImportError:
        return None, None
    key, cert = init_keys(folder)
    return load_signer(SigningSpec(key=key, cert=cert)), sign_pdf


def _engine_only(html: str) -> bytes:
    """Stock WeasyPrint (its own user-agent sheet), so the baseline stays the engine as shipped
    and the report's own tuning shows in the ratio."""
    return HTML(string=html, base_url=str(TEMPLATES), url_fetcher=_LocalFetcher()).write_pdf(
        pdf_variant="pdf/a-3b", pdf_tags=True
    )


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result = large_result()
    att = _attachments(result)
    render_pdf(result, signer="warm-up", attachments=att)  # imports, font cache, cffi set-up
    with tempfile.TemporaryDirectory() as tmp:
        signer, sign_pdf = _signer(Path(tmp))
        rows = []
        for _ in range(args.repeat):
            html, hw, hc = _timed(lambda: render_html(result, signer="Bench"))
            bare = DATA_URI.sub('<img src="data:,"', html)
            _, bw, bc = _timed(partial(_engine_only, bare))
            pdf, pw, pc = _timed(lambda: render_pdf(result, signer="Bench", attachments=att))
            sw = sc = 0.0
            if signer is not None:
                pdf, sw, sc = _timed(partial(sign_pdf, pdf, signer))
            rows.append((hw, hc, bw, bc, pw, pc, sw, sc))
        path = Path(tmp) / "bench.pdf"
        path.write_bytes(pdf)
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
        pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    med = [statistics.median(col) for col in zip(*rows, strict=True)]
    hw, hc, bw, bc, pw, pc, sw, sc = med
    print(f"pages: {pages}, size: {len(pdf) / 1e6:.2f} MB, repeats: {args.repeat} (medians)")
    print(f"html only (view model + plots):      wall {hw:5.2f} s  cpu {hc:5.2f} s")
    print(f"baseline: WeasyPrint, plots removed: wall {bw:5.2f} s  cpu {bc:5.2f} s")
    print(f"render_pdf (html + PDF/A-3b):        wall {pw:5.2f} s  cpu {pc:5.2f} s")
    if signer is not None:
        print(f"sign_pdf (PAdES B-B):                wall {sw:5.2f} s  cpu {sc:5.2f} s")
    else:
        print("sign_pdf: audit.signing not importable in this tree; not measured")
    print(
        f"total render + sign:                 wall {pw + sw:5.2f} s  cpu {pc + sc:5.2f} s"
        f"  (goal < 5 s); ratio to baseline {(pw + sw) / bw:.2f}x (cpu {(pc + sc) / bc:.2f}x)"
    )


if __name__ == "__main__":
    main()
