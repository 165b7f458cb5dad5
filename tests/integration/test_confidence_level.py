"""A policy's confidence level is the one the whole signed report states: every caption, table
and methodology line says 90% under `confidence: 0.9`, and nothing says 95%."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from hostile.hostile_builders import audit_inputs

from audit.pipeline import run_audit
from audit.signing import init_keys

pytestmark = pytest.mark.slow


def test_a_90_percent_policy_gives_a_90_percent_report(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUDIT_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    init_keys(tmp_path / "keys")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "policy.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "ninety",
                "version": "1.0.0",
                "extends": "default",
                "defaults": {"confidence": 0.9, "multiple_comparisons": "none"},
            }
        )
    )

    def apply(spec: dict) -> None:
        spec["policy"] = "policy.yaml"
        spec["checks"] = {
            "bias": {"n_boot": 100},
            "spurious": {
                "probes": [{"type": "feature", "feature": "c"}],
                "sample": 64,
                "n_boot": 100,
            },
            "robustness": {"sample": 64, "min_flip_sample": 5},
            "performance": {},
        }

    spec = audit_inputs(folder, tmp_path / "keys", patch=apply)
    _, published = run_audit(spec, tmp_path / "out")
    findings = json.loads(published.findings.read_text())
    assert findings["policy"]["confidence"] == 0.9
    text = subprocess.run(
        ["pdftotext", "-layout", str(published.report), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = " ".join(text.split())
    assert "90%" in flat
    assert "95%" not in flat, [line for line in text.splitlines() if "95%" in line]
    assert "95 %" not in flat
