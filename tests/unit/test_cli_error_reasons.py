"""With verdict `error`, the terminal shows why: each error finding's message, once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from audit.cli.runs import _print_outcome
from audit.pipeline import Published
from audit.records import Status, Verdict
from tests.unit.report.fixtures import make_result


def test_error_verdict_prints_the_reasons(tmp_path: Path, capsys) -> None:
    result = make_result()
    errors = [f for f in result.findings if f.status == Status.ERROR]
    assert errors, "the fixture holds error findings"
    result = dataclasses.replace(result, verdict=Verdict.ERROR)
    published = Published(tmp_path, tmp_path / "f.json", tmp_path / "j.xml", tmp_path / "r.pdf")
    _print_outcome(result, published)
    err = capsys.readouterr().err
    for f in errors:
        assert f"error: {f.rule}: {f.message}\n" in err
    assert err.count("error: ") == len({(f.rule, f.message) for f in errors})


def test_a_pass_prints_no_reasons(tmp_path: Path, capsys) -> None:
    result = dataclasses.replace(make_result(), verdict=Verdict.PASS)
    published = Published(tmp_path, tmp_path / "f.json", tmp_path / "j.xml", tmp_path / "r.pdf")
    _print_outcome(result, published)
    assert "error: " not in capsys.readouterr().err
