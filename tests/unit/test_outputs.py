"""Safe outputs: `audit run` claims its output folder (refused if busy, or non-empty without
--overwrite), every run gets a new default folder, and a cancelled run can take back what it
wrote. The concurrency tests use real processes racing for one folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile.hostile_builders import audit_inputs

from audit import fsio
from audit.cli import main
from audit.errors import ReportError
from audit.pipeline import default_out_dir

ROOT = Path(__file__).resolve().parents[2]


def test_a_non_empty_folder_is_refused_without_overwrite(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"an earlier run")
    with pytest.raises(ReportError) as caught:
        fsio.claim_out_dir(tmp_path)
    assert str(tmp_path) in str(caught.value) and "--overwrite" in str(caught.value)
    with fsio.claim_out_dir(tmp_path, overwrite=True) as claim:
        assert claim.folder == tmp_path


def test_a_held_folder_is_refused_even_with_overwrite(tmp_path: Path) -> None:
    with fsio.claim_out_dir(tmp_path), pytest.raises(ReportError, match="another audit"):
        fsio.claim_out_dir(tmp_path, overwrite=True)
    with fsio.claim_out_dir(tmp_path, overwrite=True):  # released with the first claim
        pass


def test_audit_run_refuses_before_any_server_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = audit_inputs(tmp_path / "in", tmp_path / "keys")
    full = tmp_path / "full"
    full.mkdir()
    (full / "findings.json").write_text("{}")
    assert main(["run", str(spec), "--out", str(full)]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert fsio.NOT_EMPTY.format(count=1, example="findings.json") in err
    assert str(full) in err and "--overwrite" in err
    busy = tmp_path / "busy"
    with fsio.claim_out_dir(busy):
        assert main(["run", str(spec), "--out", str(busy), "--overwrite"]) == 2
    assert fsio.BUSY in capsys.readouterr().err.replace("\n", "")


def test_a_discarded_run_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "new"
    with fsio.claim_out_dir(out) as claim:
        fsio.write_atomic(out / "report.pdf", b"x")
        (out / ".findings.json.abc.partial").write_bytes(b"half")  # killed mid-write
        claim.discard()
    assert not out.exists()


def test_a_sealed_run_keeps_what_the_ledger_points_at(tmp_path: Path) -> None:
    with fsio.claim_out_dir(tmp_path) as claim:
        fsio.write_atomic(tmp_path / "report.pdf", b"x")
        claim.seal()
        claim.discard()
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_default_folders_differ_within_one_second() -> None:
    folders = {default_out_dir("credit") for _ in range(50)}
    assert len(folders) == 50


# One contender, a real process: waits for the starting gun, claims the folder, and while it
# holds it marks itself in `holders` and counts the marks (2 would mean two writers at once).
CONTENDER = """
import os, sys, time
from pathlib import Path
from audit import fsio
from audit.errors import ReportError
folder, me, overwrite, go, holders = sys.argv[1:]
while not os.path.exists(go):
    time.sleep(0.0005)
try:
    with fsio.claim_out_dir(Path(folder), overwrite=overwrite == "1"):
        mark = Path(holders, me)
        mark.touch()
        peak = len(os.listdir(holders))
        fsio.write_atomic(Path(folder) / "report.pdf", f"run {me}")
        time.sleep(0.01)
        mark.unlink()
    print("won", peak)
except ReportError as exc:
    print("busy" if fsio.BUSY in str(exc) else "not empty")
"""


@pytest.mark.parametrize("overwrite", [False, True], ids=["fresh", "overwrite"])
def test_concurrent_runs_into_one_folder_are_kept_apart(tmp_path: Path, overwrite: bool) -> None:
    """20 rounds of 4 processes released at once: never two writers at a time; without
    --overwrite exactly one run writes per folder, and the report is the winner's."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round_ in range(20):
        folder, go, holders = (tmp_path / f"{k}{round_}" for k in ("out", "go", "holders"))
        holders.mkdir()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CONTENDER,
                    str(folder),
                    str(i),
                    str(int(overwrite)),
                    str(go),
                    str(holders),
                ],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in range(4)
        ]
        time.sleep(0.2)  # all started and polling
        go.touch()
        outcome = {i: p.communicate(timeout=60)[0].split() for i, p in enumerate(procs)}
        assert all(p.returncode == 0 for p in procs), outcome
        winners = [i for i, said in outcome.items() if said[0] == "won"]
        assert all(outcome[i] == ["won", "1"] for i in winners), f"two writers at once: {outcome}"
        report = (folder / "report.pdf").read_text()
        if not overwrite:
            assert len(winners) == 1, outcome
            assert report == f"run {winners[0]}"
        else:
            assert winners and report in {f"run {w}" for w in winners}
        assert not list(folder.glob(".*.partial"))
