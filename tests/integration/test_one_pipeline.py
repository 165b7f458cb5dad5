"""`run_audit` and `audit run` (the Prefect flow) are one pipeline: the same spec and ledger
give the same findings.json, timestamps, durations and run ids aside, including a second audit
whose regression rules compare with the first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostile.hostile_builders import audit_inputs

from audit.cli import main
from audit.pipeline import run_audit
from audit.signing import init_keys

pytestmark = pytest.mark.slow

# The first audit must pass for the second to have a baseline.
ACCURACY_RULE = {
    "id": "PERF-001",
    "check": "performance",
    "metric": "accuracy",
    "threshold": {"op": ">=", "value": 0.0},
    "severity": "blocker",
    "rationale": "Recorded for the regression rule's baseline.",
}
REGRESSION_RULE = {
    "id": "REG-001",
    "check": "performance",
    "metric": "accuracy_change_since_last_pass",
    "threshold": {"op": ">=", "value": -0.05},
    "severity": "major",
    "rationale": "Accuracy may not fall by more than 5 points since the last passing audit.",
}


def _comparable(findings: dict[str, Any]) -> dict[str, Any]:
    """findings.json without what differs between any two runs (times, durations)."""
    out = {k: v for k, v in findings.items() if k != "audit"}
    out["checks"] = [{k: v for k, v in c.items() if k != "seconds"} for c in findings["checks"]]
    return out


def test_run_audit_and_the_flow_agree(prefect_server, tmp_path: Path, capsys, monkeypatch):
    init_keys(tmp_path / "keys")
    policy = tmp_path / "in" / "policy.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_text(
        yaml.safe_dump(
            {
                "name": "with-regressions",
                "version": "1.0.0",
                "rules": [ACCURACY_RULE, REGRESSION_RULE],
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

    spec = audit_inputs(tmp_path / "in", tmp_path / "keys", patch=apply)
    runs: dict[str, list[dict[str, Any]]] = {"library": [], "cli": []}
    for way in runs:
        monkeypatch.setenv("AUDIT_LEDGER_URL", f"sqlite:///{tmp_path / f'{way}.sqlite'}")
        for i in range(2):
            out = tmp_path / f"{way}{i}"
            if way == "library":
                run_audit(spec, out)
            else:
                assert main(["run", str(spec), "--out", str(out)]) in (0, 1), capsys.readouterr()
            runs[way].append(json.loads((out / "findings.json").read_text()))
    for library, cli in zip(runs["library"], runs["cli"], strict=True):
        assert _comparable(library) == _comparable(cli)
    first, second = runs["cli"]
    (reg1,) = [f for f in first["findings"] if f["rule"] == "REG-001"]
    (reg2,) = [f for f in second["findings"] if f["rule"] == "REG-001"]
    assert first["verdict"] == "pass"
    assert reg1["status"] == "skipped"  # a first audit has nothing to regress from
    assert reg2["status"] == "pass" and reg2["value"] == 0.0  # same model, same data
