"""Must-show for preflight: spec mistakes exit 2 within seconds, before any server starts,
with the reason on the terminal; real `audit` processes (wall time is a bound, not a benchmark).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MAX_SECONDS = 5.0


def _spec(folder: Path, **checks: object) -> Path:
    (folder / "data.csv").write_text("a,b,c,y,sex\n0,1,0,1,F\n1,0,1,0,M\n")
    spec = {
        "name": "pre",
        "model": {"factory": "tiny_models:linear", "task": "binary"},
        "data": {
            "path": "data.csv",
            "label": "y",
            "features": ["a", "b", "c"],
            "sensitive": ["sex"],
        },
        "checks": checks,
        "policy": "default",
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _audit(*argv: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    env.pop("PREFECT_API_URL", None)  # nothing may need a server
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "audit.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    return proc, time.monotonic() - start


def test_a_probe_on_a_missing_column_exits_2_within_seconds(tmp_path: Path) -> None:
    spec = _spec(tmp_path, spurious={"probes": [{"type": "feature", "feature": "zip_code"}]})
    proc, seconds = _audit("run", str(spec), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "checks.spurious.probes[0].feature: feature probe 'zip_code' names no column" in (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert seconds < MAX_SECONDS, seconds
    assert not list(tmp_path.rglob("report.pdf"))


def test_default_policy_with_bias_switched_off_exits_2_with_the_reason(tmp_path: Path) -> None:
    proc, seconds = _audit("run", str(_spec(tmp_path, bias=False)), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "checks.bias: check `bias` is required by policy `default`" in proc.stderr
    assert "optional_checks" in proc.stderr
    assert seconds < MAX_SECONDS, seconds
    assert not list(tmp_path.rglob("report.pdf"))


def test_a_bad_cron_names_the_field(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    for cron, reason in [
        ("61 * * *", "'61 * * *': has 4 field(s); a cron expression has 5"),
        ("61 * * * *", "'61 * * * *': the minute field's `61` is outside its range 0-59"),
    ]:
        proc, _ = _audit("schedule", str(spec), "--cron", cron, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert f"--cron: {reason}" in proc.stderr
        assert "pydantic" not in proc.stderr
