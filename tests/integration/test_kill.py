"""SIGKILL `audit run` at several stages: never a partial or unsigned `report.pdf`.

Outputs are written to a temporary file and renamed into place (`audit/fsio.py`), so a kill
leaves either no report or the complete signed one; `.<name>.*.partial` temporary files may
remain (docs/security.md), since nothing can clean up after SIGKILL. SIGTERM and SIGINT, which
leave nothing behind, are `test_cancel.py`. If the audit ledger is installed, its hash chain
must still verify and every record must point at a report that exists with the recorded hash.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hostile.hostile_builders import audit_inputs

import audit
from audit.cli import main
from audit.signing import init_keys, verify_pdf
from audit.spec import sha256_file

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = {"report.pdf", "findings.json", "junit.xml"}

# (stage, a line of `--verbose` output that marks it, extra delay before the kill)
STAGES = [
    ("flow-started", "Beginning flow run", 0.0),
    ("loaded", "Task run 'load-", 0.0),
    ("predicted", "Task run 'predict-", 0.0),
    ("checks-running", "Task run 'check-", 0.0),
    ("publishing", "Task run 'judge-", 0.0),
    ("publishing-later", "Task run 'judge-", 0.5),
    ("publishing-latest", "Task run 'judge-", 1.0),
]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kill")
    init_keys(folder / "keys")
    return audit_inputs(folder / "in", folder / "keys")


@pytest.fixture(scope="module")
def ledger_url(prefect_server, spec: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ledger that already holds one completed audit, so the kills land on a real chain."""
    folder = tmp_path_factory.mktemp("ledger")
    url = f"sqlite:///{folder / 'ledger.sqlite'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIT_LEDGER_URL", url)
        assert main(["run", str(spec), "--out", str(folder / "out")]) in (0, 1)
    return url


def _run_and_kill(spec: Path, out: Path, marker: str, delay: float, env: dict) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "audit.cli", "--verbose", "run", str(spec), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen: list[str] = []
    hit = threading.Event()

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if marker in line:
                hit.set()
        hit.set()  # stream closed: the process ended

    threading.Thread(target=watch, daemon=True).start()
    hit.wait(timeout=240)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    code = proc.wait(timeout=60)
    return code, "".join(seen)


def _assert_consistent_outputs(out: Path) -> None:
    if not out.exists():
        return
    names = {p.name for p in out.iterdir()}
    assert names - OUTPUTS <= {n for n in names if n.endswith(".partial")}
    if names & {"findings.json", "junit.xml"}:
        # machine-read verdicts are written last, never without the signed report
        assert "report.pdf" in names, f"a verdict without its report: {sorted(names)}"
    if "report.pdf" in names:
        assert verify_pdf(out / "report.pdf").valid, "a report.pdf that does not verify"
    if "findings.json" in names:
        assert json.loads((out / "findings.json").read_text())["verdict"]
    if "junit.xml" in names:
        ET.parse(out / "junit.xml")


def _assert_ledger_consistent(url: str) -> None:
    if not (Path(audit.__file__).parent / "ledger.py").is_file():
        return  # the ledger is not on this branch yet
    from audit.ledger import Ledger

    with Ledger(url) as ledger:
        chain = ledger.verify_chain()
        assert chain.ok, chain.problems
        assert chain.records >= 1
        for entry in ledger.entries():
            record = entry.to_json()
            report = record.get("report_path")
            if report:
                assert Path(report).is_file(), f"ledger points at a missing report {report}"
                assert sha256_file(Path(report)) == record.get("report_sha256")


@pytest.mark.parametrize(("stage", "marker", "delay"), STAGES, ids=[s[0] for s in STAGES])
def test_kill_leaves_no_partial_report(
    prefect_server,
    spec: Path,
    ledger_url: str,
    tmp_path: Path,
    stage: str,
    marker: str,
    delay: float,
) -> None:
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "PYTHONPATH": str(ROOT),
        "AUDIT_LEDGER_URL": ledger_url,
    }
    out = tmp_path / "out"
    code, log = _run_and_kill(spec, out, marker, delay, env)
    assert marker in log, f"stage {stage!r} never reached:\n{log[-2000:]}"
    assert code in (-signal.SIGKILL, 0, 1), f"exit {code}:\n{log[-2000:]}"
    _assert_consistent_outputs(out)
    _assert_ledger_consistent(ledger_url)
