"""`audit history --verify` re-hashes the reports, and history tells "fixed" from "not
measured this time"."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer

from audit.ledger import (
    AUDITS,
    REPORT_MISMATCH,
    REPORT_MISSING,
    REPORT_NOT_RECORDED,
    REPORT_OK,
    Ledger,
    _row_hash,
    drift,
)
from audit.records import Metric, Status
from tests.unit.ledger.conftest import dpr, finding, make_result

history_cli = pytest.importorskip("audit.cli.history", exc_type=ImportError)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    app = typer.Typer()
    history_cli.register(app)
    code = app(args=args, standalone_mode=False)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def reports(tmp_path: Path) -> tuple[str, list[Path]]:
    """Three audits, each with its own report file, and one recorded without a report."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    m = dpr(0.9, 0.86, 0.94)
    paths = []
    with Ledger(url) as led:
        for i in range(3):
            path = tmp_path / f"run{i}" / "report.pdf"
            path.parent.mkdir()
            path.write_bytes(f"report {i}".encode())
            led.record(make_result([m], [finding(m, Status.PASS)]), path)
            paths.append(path)
        led.record(make_result([m], [finding(m, Status.PASS)]))
    return url, paths


def test_untouched_reports_verify(
    reports: tuple[str, list[Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = reports
    with Ledger(url) as led:
        assert [r.state for r in led.verify_reports()] == [REPORT_OK] * 3 + [REPORT_NOT_RECORDED]
    code, out, _ = run(["history", "--verify", "--ledger", url], capsys)
    assert code == 0
    assert "3 match their recorded sha256, 0 changed, 0 missing, 1 not recorded" in out


def test_a_replaced_report_fails_and_a_missing_one_is_flagged(
    reports: tuple[str, list[Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, paths = reports
    paths[0].write_bytes(b"another run wrote here")  # the last writer won
    paths[2].unlink()
    with Ledger(url) as led:
        states = [r.state for r in led.verify_reports()]
    assert states == [REPORT_MISMATCH, REPORT_OK, REPORT_MISSING, REPORT_NOT_RECORDED]
    code, out, err = run(["history", "--verify", "--ledger", url], capsys)
    assert code == 1
    assert "chain intact" in out  # the rows are fine; the file they point at is not
    assert f"record 1 (credit): report changed after it was recorded: {paths[0]}" in err
    assert f"record 3 (credit): report missing: {paths[2]}" in err
    code, out, _ = run(["history", "--verify", "--json", "--ledger", url], capsys)
    payload = json.loads(out)
    assert code == 1 and payload["chain_ok"] is True and payload["ok"] is False
    assert [r["state"] for r in payload["reports"]][:3] == states[:3]


def test_only_a_missing_report_does_not_fail(
    reports: tuple[str, list[Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, paths = reports
    paths[1].unlink()  # reports may be cleaned up on purpose; the ledger keeps the record
    code, _, err = run(["history", "--verify", "--ledger", url], capsys)
    assert code == 0 and "record 2 (credit): report missing" in err


def test_an_old_row_without_a_report_hash_says_not_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row written before reports were hashed: a path, no sha256; never a crash or a pass."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    report = tmp_path / "report.pdf"
    report.write_bytes(b"old")
    with Ledger(url) as led:
        entry = led.record(make_result([]))
        with led.engine.begin() as conn:
            row = dict(conn.execute(sa.select(AUDITS)).mappings().one())
            row.update(report_path=str(report), report_sha256=None)
            row["hash"] = _row_hash(row)
            conn.execute(sa.update(AUDITS).where(AUDITS.c.seq == entry.seq).values(**row))
        (check,) = led.verify_reports()
        assert led.verify_chain().ok
    assert check.state == REPORT_NOT_RECORDED and check.path == str(report)
    code, out, _ = run(["history", "--verify", "--ledger", url], capsys)
    assert code == 0 and "1 not recorded" in out


SPUR = Metric("spurious", "attribution_share", 0.3, probe="watermark")


def test_a_crashed_check_is_not_measured_not_fixed() -> None:
    """The bug: after a crashed spurious check, history said "fixed SPUR-001"."""
    failed = [finding(SPUR, Status.FAIL, "SPUR-001")]
    # a crashed check: one error finding for the rule, about the run, without a metric
    crashed = [replace(failed[0], status=Status.ERROR, metric=None, message="crashed")]
    d = drift([], [SPUR], crashed, failed)
    assert d.fixed == ()
    assert [(f["rule"], f["subject"]) for f in d.not_measured] == [("SPUR-001", "probe watermark")]
    assert [(f["rule"], f["subject"]) for f in d.new_failures] == [("SPUR-001", "")]
    # the run after: measured again and passing, the check-level error is fixed
    after = drift([SPUR], [], [finding(SPUR, Status.PASS, "SPUR-001")], crashed)
    assert [(f["rule"], f["subject"]) for f in after.fixed] == [("SPUR-001", "")]
    assert after.not_measured == ()


def test_switched_off_waived_and_passing_are_told_apart() -> None:
    m = dpr(0.7, 0.66, 0.74)
    then = [finding(m, Status.FAIL, r) for r in ("FAIR-001", "FAIR-002", "FAIR-003")]
    now = [finding(m, Status.PASS, "FAIR-001"), finding(m, Status.WAIVED, "FAIR-002")]
    d = drift([m], [m], now, then)
    assert [f["rule"] for f in d.fixed] == ["FAIR-001"]
    assert [f["rule"] for f in d.waived] == ["FAIR-002"]
    assert [f["rule"] for f in d.not_measured] == ["FAIR-003"]
    assert set(d.to_evidence()) >= {"fixed", "waived", "not_measured"}


def test_history_says_not_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    m = dpr(0.7, 0.66, 0.74)
    with Ledger(url) as led:
        led.record(make_result([m], [finding(m, Status.FAIL)]))
        led.record(make_result([], []))
    monkeypatch.setattr(history_cli._console.out, "width", 250)
    code, out, _ = run(["history", "credit", "--ledger", url], capsys)
    assert code == 0
    assert "not measured this time FAIR-001 [sex]" in out and "fixed" not in out
