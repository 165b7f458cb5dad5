"""`audit history`: the trend, JSON output, and `--verify` catching an edited row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer

from audit.ledger import AUDITS, Ledger
from audit.records import Status, Verdict
from tests.unit.ledger.conftest import DPR, dpr, finding, make_result

# `audit.cli` imports every command module; until the branches are merged some are missing.
history_cli = pytest.importorskip("audit.cli.history", exc_type=ImportError)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_cli._console.out, "width", 250)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    app = typer.Typer()
    history_cli.register(app)
    code = app(args=args, standalone_mode=False)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    good, bad = dpr(0.92, 0.90, 0.94), dpr(0.70, 0.66, 0.74)
    with Ledger(url) as led:
        led.record(make_result([good], [finding(good, Status.PASS)]))
        led.record(make_result([good], [finding(good, Status.PASS)], name="other"))
        led.record(make_result([bad], [finding(bad, Status.FAIL)], verdict=Verdict.FAIL))
    return url


def test_history_shows_the_trend(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["history", "credit", "--ledger", url], capsys)
    assert code == 0
    assert "0.92→0.7" in out and "new failure FAIR-001" in out
    assert "other" not in out


def test_history_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["history", "--json", "--ledger", url, "--limit", "2"], capsys)
    rows = json.loads(out)
    assert code == 0 and [r["seq"] for r in rows] == [2, 3]
    # The first row shown still compares with its own predecessor outside the window.
    assert rows[1]["changed_since_last"][0].startswith(DPR)
    assert rows[0]["changed_since_last"] == []


def test_verify_passes_then_catches_an_edit(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["history", "--verify", "--ledger", url], capsys)
    assert code == 0 and "intact: 3 records" in out
    with Ledger(url) as led, led.engine.begin() as conn:
        conn.execute(sa.update(AUDITS).where(AUDITS.c.seq == 3).values(verdict="pass"))
    code, _, err = run(["history", "--verify", "--ledger", url], capsys)
    assert code == 1
    assert "BROKEN" in err and "record 3" in err
    code, out, _ = run(["history", "--verify", "--json", "--ledger", url], capsys)
    assert code == 1 and json.loads(out)["ok"] is False


def test_an_empty_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    code, out, _ = run(["history", "x", "--ledger", url], capsys)
    assert code == 0 and "No audits recorded yet for x." in out
