"""Ledger rows written before findings.json schema version 2, which named the perturbation
level `severity`, still pair with new rows: in the history and in the regression metrics."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audit.cli.history import _changes
from audit.ledger import AUDITS, Ledger, drift, regression_metrics
from audit.records import Metric, Verdict
from tests.unit.ledger.conftest import make_result


def flip(value: float, level: int) -> Metric:
    return Metric(
        "robustness",
        "flip_rate",
        value,
        perturbation="gaussian_noise",
        level=level,
        ci_low=value - 0.01,
        ci_high=value + 0.01,
        n=2000,
    )


def _record_as_before_version_2(
    ledger: Ledger, metrics: list[Metric], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Record a passing audit as the ledger wrote it then: each metric's level as `severity`."""
    to_json = Metric.to_json

    def old_json(m: Metric) -> dict:
        out = to_json(m)
        if "level" in out:
            out["severity"] = out.pop("level")
        return out

    with monkeypatch.context() as patch:
        patch.setattr(Metric, "to_json", old_json)
        ledger.record(make_result(metrics, verdict=Verdict.PASS))


def test_an_old_row_pairs_its_metrics_with_a_new_rows(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = [flip(0.02, 2), flip(0.10, 3)]
    _record_as_before_version_2(ledger, before, monkeypatch)
    with ledger.engine.connect() as conn:
        stored = conn.execute(sa.select(AUDITS.c.metrics)).scalar_one()
    assert '"severity":2' in stored and '"level"' not in stored  # really the old shape
    ledger.record(make_result([flip(0.20, 2), flip(0.11, 3)]))
    old, new = ledger.entries("credit")
    assert old.metrics == tuple(before)  # read back with the level as `level`
    assert ledger.verify_chain().ok  # reading changes nothing stored
    baseline = ledger.previous("credit", passing_only=True, before=new.seq)
    assert baseline is not None and baseline.seq == old.seq
    change = regression_metrics(new.metrics, baseline.metrics)
    assert [(m.level, m.value) for m in change] == [
        (2, pytest.approx(0.18)),
        (3, pytest.approx(0.01)),
    ]
    (moved,) = drift(new.metrics, old.metrics).changed
    assert moved["subject"] == "gaussian_noise@2" and moved["previous"] == 0.02
    assert _changes(new, old) == ["flip_rate [gaussian_noise@2] 0.02→0.2"]
