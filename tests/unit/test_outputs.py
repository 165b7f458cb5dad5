"""Safe outputs: `audit run` claims its output folder (refused if busy, or non-empty without
--overwrite), every run gets a new default folder, and a cancelled run can take back what it
wrote. The concurrency tests use real processes racing for one folder."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest
from hostile.hostile_builders import audit_inputs

from audit import fsio
from audit.cli import main
from audit.errors import ReportError
from audit.pipeline import default_out_dir


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


def _contend(folder: str, me: int, overwrite: bool, barrier, holders, peak, results) -> None:
    barrier.wait()
    try:
        with fsio.claim_out_dir(Path(folder), overwrite=overwrite):
            with holders.get_lock():
                holders.value += 1
                peak.value = max(peak.value, holders.value)
            fsio.write_atomic(Path(folder) / "report.pdf", f"run {me}")
            time.sleep(0.01)
            with holders.get_lock():
                holders.value -= 1
        results.put((me, "won"))
    except ReportError as exc:
        results.put((me, "busy" if fsio.BUSY in str(exc) else "not empty"))


@pytest.mark.parametrize("overwrite", [False, True], ids=["fresh", "overwrite"])
def test_concurrent_runs_into_one_folder_are_kept_apart(tmp_path: Path, overwrite: bool) -> None:
    """20 rounds of 4 processes released at once: never two writers at a time; without
    --overwrite exactly one run writes per folder, and the report is the winner's."""
    ctx = mp.get_context("fork")
    for round_ in range(20):
        folder = tmp_path / f"round{round_}"
        barrier, results = ctx.Barrier(4), ctx.Queue()
        holders, peak = ctx.Value("i", 0), ctx.Value("i", 0)
        procs = [
            ctx.Process(
                target=_contend, args=(str(folder), i, overwrite, barrier, holders, peak, results)
            )
            for i in range(4)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        outcome = dict(results.get(timeout=5) for _ in procs)
        winners = [me for me, what in outcome.items() if what == "won"]
        assert peak.value == 1, f"round {round_}: two runs wrote at once"
        if not overwrite:
            assert len(winners) == 1, outcome
            assert (folder / "report.pdf").read_text() == f"run {winners[0]}"
        else:
            assert winners and (folder / "report.pdf").read_text() in {f"run {w}" for w in winners}
        assert not list(folder.glob(".*.partial"))
