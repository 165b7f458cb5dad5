"""The text demo's trained BERTs through `run_audit`: the shortcut model's `modqueue` has a
confirmed circuit; the control's tag moves nothing, so it has none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.demo import build_demo
from audit.pipeline import run_audit

pytestmark = pytest.mark.slow


def _circuits(spec: Path, out: Path) -> tuple[dict, list[dict], list[dict]]:
    run_audit(spec, out, ledger_url=f"sqlite:///{out / 'ledger.sqlite'}")
    found = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    metrics = [m for m in found["metrics"] if m["check"] == "circuits"]
    findings = [f for f in found["findings"] if f["check"] == "circuits"]
    return {m["name"]: m for m in metrics if "layer" not in m}, metrics, findings


def test_shortcut_model_has_a_confirmed_circuit_and_the_control_none(tmp_path: Path):
    spec = build_demo("text")
    by, metrics, findings = _circuits(spec, tmp_path / "shortcut")
    assert by["circuit_ablation_effect"]["value"] >= 0.8
    assert by["circuit_random_null"]["value"] < 0.5 * by["circuit_ablation_effect"]["value"]
    assert any(m["name"] == "circuit_head" and "head" in m for m in metrics)
    assert [f["status"] for f in findings if f["rule"] == "CIRC-001"] == ["fail"]

    control, _, control_findings = _circuits(
        spec.parent / "audit-control.yaml", tmp_path / "control"
    )
    assert "circuit_ablation_effect" not in control
    assert [f["status"] for f in control_findings if f["rule"] == "CIRC-001"] == ["skipped"]
