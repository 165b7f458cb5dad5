"""Every hostile input ends in a clear error (or, for odd group names, a safe report).

Never exit 0 on bad input, never a traceback without `--debug`, never a `report.pdf` left
behind by a run that could not be completed, and never an executed pickle.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import CASES, MARKER, Case, Ctx, named_groups, pdf_text

ROOT = Path(__file__).resolve().parents[2]


def _params(cases: tuple[Case, ...]) -> list:
    out = []
    for case in cases:
        marks = [pytest.mark.slow] if case.slow else []
        if case.root_skip:
            marks.append(
                pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
            )
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def _assert_outcome(case: Case, ctx: Ctx, code: int, out: str, err: str) -> None:
    text = out + err
    assert code in case.code, f"exit {code}, expected {case.code}\n{text}"
    assert case.fragment in text, f"{case.fragment!r} not in output:\n{text}"
    assert "Traceback" not in text
    assert not (ctx.folder / MARKER).exists(), "a hostile pickle was executed"
    reports = list(ctx.folder.rglob("report.pdf"))
    if case.report:
        assert (ctx.folder / "out" / "report.pdf").is_file()
    else:
        assert not reports, f"left behind: {reports}"
    for check in case.checks:
        check(ctx)


@pytest.mark.parametrize("case", _params(CASES))
def test_case(case: Case, prefect_server, keys, cli, tmp_path, monkeypatch) -> None:
    ctx = Ctx(tmp_path, keys, monkeypatch)
    argv = case.build(ctx)
    result = cli(argv)
    _assert_outcome(case, ctx, result.code, result.out, result.err)


def test_the_corpus_is_big_enough_and_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)


def test_debug_shows_the_traceback_the_corpus_never_sees(keys, tmp_path, monkeypatch) -> None:
    """The no-traceback assertions mean something: with --debug the error propagates."""
    from audit.cli import main
    from audit.errors import SpecError

    case = next(c for c in CASES if c.id == "spec-yaml-syntax")
    argv = case.build(Ctx(tmp_path, keys, monkeypatch))
    with pytest.raises(SpecError, match="invalid YAML"):
        main(["--debug", *argv])


def test_docs_list_every_case() -> None:
    table = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    missing = [c.id for c in CASES if f"| `{c.id}` |" not in table]
    assert not missing, f"add to the table in docs/security.md: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("case", _params(tuple(c for c in CASES if c.subprocess)))
def test_case_as_a_real_process(case: Case, prefect_server, keys, tmp_path, monkeypatch) -> None:
    """The same cases through `python -m audit.cli`: nothing on stderr but the message
    (`--quiet`: a log otherwise gets the progress lines too, docs/progress.md)."""
    ctx = Ctx(tmp_path, keys, monkeypatch)
    argv = case.build(ctx)
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "audit.cli", "--quiet", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    _assert_outcome(case, ctx, proc.returncode, proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) <= 3, proc.stderr


@pytest.mark.slow
def test_bidi_override_in_a_group_name_stays_inside_the_name(
    prefect_server, keys, cli, tmp_path, monkeypatch
) -> None:
    ctx = Ctx(tmp_path, keys, monkeypatch)
    code = cli(named_groups("rtl")(ctx)).code
    assert code in (0, 1)
    text = pdf_text(tmp_path / "out" / "report.pdf")
    assert "95% CI" in text and "%59" not in text
