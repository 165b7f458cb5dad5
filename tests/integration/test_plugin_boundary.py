"""A third-party check appears everywhere once registered, with no edit to `audit`.

`tests/example_check/audit_example_check` is installed the way a package installs itself: a
`.dist-info` folder whose `entry_points.txt` names it under `audit.checks`, on the path of
fresh `audit` processes. Without that folder the same spec is refused (unknown key), so it is
the registration, and nothing else, that makes the check part of the audit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "example_check"
ENTRY_POINTS = """[audit.checks]
prediction_balance = audit_example_check:PredictionBalancePlugin
"""
POLICY = {
    "name": "example-check-policy",
    "version": "1.0.0",
    "description": "Judges the example third-party check beside performance.",
    "rules": [
        {
            "id": "BAL-001",
            "check": "prediction_balance",
            "metric": "max_abs_share_gap",
            "threshold": {"op": "<=", "value": 0.5},
            "severity": "blocker",
            "rationale": "The model predicts each class about as often as it occurs.",
        },
        {
            "id": "PERF-001",
            "check": "performance",
            "metric": "accuracy",
            "threshold": {"op": ">=", "value": 0.5},
            "severity": "major",
            "rationale": "Better than a coin.",
        },
    ],
}


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    info = site / "audit_example_check-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: audit-example-check\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


def _audit(args: list[str], *, site: Path | None, api: str) -> subprocess.CompletedProcess:
    paths = [str(EXAMPLE), *([str(site)] if site else []), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    env["PREFECT_API_URL"] = api
    return subprocess.run(
        [sys.executable, "-m", "audit.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def files(demo_spec: Path, tmp_path: Path) -> tuple[Path, Path]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY, sort_keys=False))
    spec = yaml.safe_load(demo_spec.read_text())
    for section in ("model", "data"):
        spec[section]["path"] = str(demo_spec.parent / spec[section]["path"])
    spec["policy"] = str(policy)
    spec["checks"] = {
        "bias": False,
        "spurious": False,
        "robustness": False,
        "prediction_balance": {},
    }
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return spec_path, policy


def test_unregistered_check_is_an_unknown_key(files, prefect_server, tmp_path):
    spec, _ = files
    done = _audit(["run", str(spec), "--out", str(tmp_path / "out")], site=None, api=prefect_server)
    assert done.returncode == 2
    assert "unknown key `prediction_balance` in `checks`" in done.stderr


def test_registered_check_appears_everywhere(files, prefect_server, tmp_path):
    spec, policy = files
    site = _site(tmp_path)

    schema = _audit(["policy", "schema"], site=site, api=prefect_server)
    assert schema.returncode == 0, schema.stderr
    assert (
        "prediction_balance"
        in json.loads(schema.stdout)["$defs"]["Rule"]["properties"]["check"]["enum"]
    )

    lint = _audit(["policy", "lint", str(policy)], site=site, api=prefect_server)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    typo = tmp_path / "typo.yaml"
    typo.write_text(policy.read_text().replace("max_abs_share_gap", "max_abs_share_gpa"))
    lint = _audit(["policy", "lint", str(typo)], site=site, api=prefect_server)
    assert lint.returncode == 2
    assert "did you mean `max_abs_share_gap`?" in lint.stdout + lint.stderr

    out = tmp_path / "out"
    run = _audit(["run", str(spec), "--out", str(out)], site=site, api=prefect_server)
    assert run.returncode == 0, run.stdout + run.stderr
    findings = json.loads((out / "findings.json").read_text())
    names = {m["name"] for m in findings["metrics"] if m["check"] == "prediction_balance"}
    assert names == {"predicted_share", "share_gap", "max_abs_share_gap"}
    (rule,) = [f for f in findings["findings"] if f["rule"] == "BAL-001"]
    assert rule["status"] == "pass"
    assert {"check": "prediction_balance", "state": "ran"}.items() <= {
        k: v for c in findings["checks"] if c["check"] == "prediction_balance" for k, v in c.items()
    }.items()

    text = subprocess.run(
        ["pdftotext", "-layout", str(out / "report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Prediction balance" in text
    assert "Predicted share per class, with 95% Wilson intervals" in text

    card = tmp_path / "MODEL_CARD.md"
    export = _audit(
        ["export", "model-card", str(out / "report.pdf"), "-o", str(card)],
        site=site,
        api=prefect_server,
    )
    assert export.returncode == 0, export.stderr
    assert "## Prediction balance: headline measurements" in card.read_text()
