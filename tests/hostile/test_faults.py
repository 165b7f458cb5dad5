"""Fault injection end to end: a check that raises or hangs, a model that raises mid-run.

Each becomes an `error` (never a pass); when the audit could still finish, the signed report
renders and says which check failed and why.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from corpus import pdf_text
from hostile_builders import RaisesOnLarge, audit_inputs, frame

from audit import pipeline
from audit import registry as audit_registry
from audit.checks.bias import BiasPlugin
from audit.errors import ModelError
from audit.records import Status, Verdict
from audit.signing import verify_pdf

pytestmark = pytest.mark.slow

CRASH = "bias exploded on purpose"


class _Raises(BiasPlugin):
    def measure(self, ctx):
        raise ZeroDivisionError(CRASH)


class _Hangs(BiasPlugin):
    release = threading.Event()

    def measure(self, ctx):
        self.release.wait(60)
        raise RuntimeError("released")


@pytest.fixture
def bias_is(monkeypatch: pytest.MonkeyPatch):
    real = audit_registry.plugin

    def use(check_cls) -> None:
        monkeypatch.setattr(
            audit_registry, "plugin", lambda name: check_cls() if name == "bias" else real(name)
        )

    return use


def _audit(tmp_path: Path, keys: Path, **spec_changes):
    def apply(spec):
        spec.update(spec_changes)

    spec = audit_inputs(tmp_path / "in", keys, patch=apply)
    return pipeline.run_audit(spec, tmp_path / "out")


def _assert_error_reported(result, published, needle: str) -> None:
    assert result.verdict is Verdict.ERROR
    run = next(r for r in result.check_runs if r.check == "bias")
    assert run.state == "error" and needle in run.message
    bias_findings = [f for f in result.findings if f.rule.startswith("FAIR")]
    assert bias_findings and all(f.status is Status.ERROR for f in bias_findings)
    assert verify_pdf(published.report).valid
    text = " ".join(pdf_text(published.report).split())
    assert needle in text, "the report does not say what failed"


def test_a_check_that_raises_is_an_error_and_the_report_says_so(bias_is, tmp_path, keys):
    bias_is(_Raises)
    result, published = _audit(tmp_path, keys)
    _assert_error_reported(result, published, f"ZeroDivisionError: {CRASH}")


def test_a_check_that_hangs_times_out_as_an_error(bias_is, tmp_path, keys):
    bias_is(_Hangs)
    try:
        result, published = _audit(tmp_path, keys, runner={"check_timeout": 1})
    finally:
        _Hangs.release.set()
    _assert_error_reported(result, published, "timed out after 1 s")


def test_a_model_that_raises_on_some_batches_stops_the_audit(tmp_path, keys):
    data = frame()
    data.loc[200, "a"] = 1e6

    def apply(spec):
        spec["data"]["batch_size"] = 64

    spec = audit_inputs(tmp_path / "in", keys, model=RaisesOnLarge(), data=data, patch=apply)
    with pytest.raises(ModelError, match=r"raised on rows 192-239: RuntimeError: simulated"):
        pipeline.run_audit(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()
