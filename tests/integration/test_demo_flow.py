"""The walking skeleton end to end: Prefect flow → signed PDF → independent validation."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from audit.records import Status, Verdict
from audit.signing import verify_pdf

pytestmark = pytest.mark.slow


def test_demo_measures_real_adult_disparity(demo_run):
    result, _ = demo_run
    by_key = {(m.name, m.feature, m.group): m for m in result.metrics}
    ratio = by_key[("demographic_parity_ratio", "sex", None)]
    # The demo MLP selects women at about a third of the rate of men on the Adult test split.
    assert 0.2 < ratio.value < 0.5
    assert ratio.n is not None and ratio.n > 4000
    female = by_key[("selection_rate", "sex", "Female")]
    assert female.ci_low < female.value < female.ci_high
    assert result.verdict is Verdict.FAIL
    fair001 = [f for f in result.findings if f.rule == "FAIR-001" and f.metric.feature == "sex"]
    assert fair001 and fair001[0].status is Status.FAIL


def test_outputs_are_written_and_consistent(demo_run):
    result, published = demo_run
    findings = json.loads(published.findings.read_text())
    assert findings["verdict"] == "fail"
    assert findings["provenance"]["model_sha256"] == result.provenance.model_sha256
    assert all("value" in m and m["value"] == m["value"] for m in findings["metrics"])
    junit = published.junit.read_text()
    assert "<testsuite" in junit and "FAIR-001" in junit and "<failure" in junit


def test_report_is_signed_and_verifies(demo_run):
    _, published = demo_run
    report = verify_pdf(published.report)
    assert report.valid, report.problems
    assert report.verdict == "fail"
    assert report.findings["provenance"]["model_sha256"] == report.model_sha256


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils (pdfsig) not installed")
def test_poppler_validates_the_signature(demo_run):
    _, published = demo_run
    out = subprocess.run(
        ["pdfsig", str(published.report)], capture_output=True, text=True, check=False
    ).stdout
    assert "Signature is Valid" in out, out


def test_changed_byte_is_detected(demo_run, tmp_path):
    _, published = demo_run
    data = bytearray(published.report.read_bytes())
    # flip a byte inside the first page's content, well before the signature
    data[len(data) // 3] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    try:
        report = verify_pdf(tampered)
    except Exception:
        return  # unreadable counts as rejected
    assert not report.valid
