"""Same spec, same seed → the same `metrics` and `findings` in findings.json (timestamps aside).

Every registered check that is installed runs, through the real CLI and the Prefect flow
(checks run concurrently there), twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile.hostile_builders import audit_inputs

import audit.checks
from audit.cli import main
from audit.signing import init_keys

pytestmark = pytest.mark.slow


def _installed(check: str) -> bool:
    """On this checkout (an editable install elsewhere could otherwise supply the module)."""
    return (Path(audit.checks.__file__).parent / check).is_dir()


def _checks() -> dict:
    checks: dict = {"bias": {"n_boot": 200}, "performance": {}}
    checks["spurious"] = (
        {"probes": [{"type": "feature", "feature": "c"}], "sample": 64, "n_boot": 100}
        if _installed("spurious")
        else False
    )
    checks["robustness"] = {"sample": 64} if _installed("robustness") else False
    return checks


def test_two_runs_with_the_same_seed_agree(
    prefect_server, tmp_path: Path, capsys, monkeypatch
) -> None:
    init_keys(tmp_path / "keys")

    def apply(spec: dict) -> None:
        spec["checks"] = _checks()
        spec["seed"] = 7

    spec = audit_inputs(tmp_path / "in", tmp_path / "keys", patch=apply)
    runs = []
    for i in range(2):
        # A fresh ledger each time: history is an input (regression metrics compare with it).
        monkeypatch.setenv("AUDIT_LEDGER_URL", f"sqlite:///{tmp_path / f'ledger{i}.sqlite'}")
        out = tmp_path / f"out{i}"
        code = main(["run", str(spec), "--out", str(out)])
        assert code in (0, 1, 2), capsys.readouterr()
        runs.append(json.loads((out / "findings.json").read_text()))
    first, second = runs
    assert first["metrics"], "nothing was measured"
    assert first["metrics"] == second["metrics"]
    assert first["findings"] == second["findings"]
    assert first["verdict"] == second["verdict"]
    assert first["provenance"] == second["provenance"]
    assert first["audit"]["started_at"] <= second["audit"]["started_at"]
