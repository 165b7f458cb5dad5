"""The hash chain: appends link to the head, and any edit or deletion is detected."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from audit.ledger import (
    AUDITS,
    BAD_URL,
    BROKEN_HASH,
    BROKEN_LINK,
    GENESIS,
    LEDGER_URL_ENV,
    Ledger,
    LedgerError,
    _row_hash,
    default_url,
)
from audit.records import Verdict
from tests.unit.ledger.conftest import dpr, make_result


def _fill(ledger: Ledger, count: int = 3) -> None:
    for i in range(count):
        ledger.record(make_result([dpr(0.9 - i / 100, 0.85, 0.95)]))


def test_records_link_to_the_previous_hash(ledger: Ledger) -> None:
    _fill(ledger)
    rows = ledger.entries()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    check = ledger.verify_chain()
    assert check.ok and check.records == 3 and check.head == rows[-1].hash


def test_an_empty_ledger_verifies(ledger: Ledger) -> None:
    check = ledger.verify_chain()
    assert check.ok and check.records == 0 and check.head == GENESIS


def test_a_round_trip_keeps_every_field(ledger: Ledger, tmp_path: Path) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7 signed")
    result = make_result([dpr(0.91, 0.88, 0.94)], verdict=Verdict.FAIL)
    written = ledger.record(result, report, run_id="run-1")
    (read,) = ledger.entries("credit")
    assert read == written
    assert read.metrics == result.metrics
    assert read.verdict is Verdict.FAIL
    assert read.report_path == str(report.resolve())
    assert read.report_sha256 == hashlib.sha256(b"%PDF-1.7 signed").hexdigest()
    assert read.hashes["model"] == "a" * 64 and read.run_id == "run-1"


def test_editing_a_metric_breaks_the_chain(ledger: Ledger) -> None:
    _fill(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.update(AUDITS).where(AUDITS.c.seq == 2).values(metrics='[{"check":"bias"}]')
        )
    check = ledger.verify_chain()
    assert not check.ok
    assert check.problems == (BROKEN_HASH.format(seq=2),)


def test_rehashing_an_edited_row_still_breaks_the_next_link(ledger: Ledger) -> None:
    _fill(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(sa.update(AUDITS).where(AUDITS.c.seq == 2).values(verdict="fail"))
        row = conn.execute(sa.select(AUDITS).where(AUDITS.c.seq == 2)).mappings().one()
        conn.execute(sa.update(AUDITS).where(AUDITS.c.seq == 2).values(hash=_row_hash(row)))
    assert ledger.verify_chain().problems == (BROKEN_LINK.format(seq=3),)


def test_deleting_a_row_breaks_the_chain(ledger: Ledger) -> None:
    _fill(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(sa.delete(AUDITS).where(AUDITS.c.seq == 2))
    assert ledger.verify_chain().problems == (BROKEN_LINK.format(seq=3),)


def test_two_rows_cannot_share_a_head(ledger: Ledger) -> None:
    """The unique prev_hash is what keeps concurrent writers from forking the chain."""
    _fill(ledger, 1)
    (first,) = ledger.entries()
    with pytest.raises(sa.exc.IntegrityError), ledger.engine.begin() as conn:
        row = {c.name: None for c in AUDITS.columns if c.name != "seq"}
        conn.execute(
            sa.insert(AUDITS).values(
                **{
                    **row,
                    "name": "x",
                    "recorded_at": "",
                    "started_at": "",
                    "finished_at": "",
                    "verdict": "pass",
                    "model_sha256": "",
                    "data_sha256": "",
                    "spec_sha256": "",
                    "policy_sha256": "",
                    "policy_name": "",
                    "policy_version": "",
                    "metrics": "[]",
                    "findings": "[]",
                    "prev_hash": first.prev_hash,
                    "hash": "f" * 64,
                }
            )
        )


def test_previous_finds_the_last_passing_record(ledger: Ledger) -> None:
    ledger.record(make_result([dpr(0.95, 0.9, 1.0)], verdict=Verdict.PASS))
    ledger.record(make_result([dpr(0.70, 0.65, 0.75)], verdict=Verdict.FAIL))
    ledger.record(make_result([dpr(0.9, 0.85, 0.95)], name="other"))
    last = ledger.previous("credit")
    passing = ledger.previous("credit", passing_only=True)
    assert last is not None and last.seq == 2
    assert passing is not None and passing.seq == 1
    assert ledger.previous("credit", before=1) is None
    assert ledger.previous("unknown") is None


def test_the_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'env.sqlite'}"
    monkeypatch.setenv(LEDGER_URL_ENV, url)
    assert default_url() == url
    with Ledger() as led:
        led.record(make_result([]))
    assert (tmp_path / "env.sqlite").exists()


def test_the_default_lives_in_the_user_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LEDGER_URL_ENV, raising=False)
    from audit import paths

    assert default_url() == f"sqlite:///{paths.data_dir() / 'ledger.sqlite'}"


def test_a_bad_url_is_a_typed_error() -> None:
    with pytest.raises(LedgerError) as info:
        Ledger("nosuchdialect://x")
    assert info.value.where == LEDGER_URL_ENV
    assert info.value.message.startswith(BAD_URL.split("{")[0])
