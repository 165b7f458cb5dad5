"""A check that crashes or hangs is recorded as an error run, never as a silent pass."""

from __future__ import annotations

import threading

import pytest

from audit import pipeline
from audit import registry as audit_registry
from audit.checks.base import CheckOutput
from audit.checks.bias import BiasPlugin
from audit.records import Metric


class _Raises(BiasPlugin):
    def measure(self, ctx):
        raise ZeroDivisionError("group of size zero")


class _Hangs(BiasPlugin):
    release = threading.Event()

    def measure(self, ctx):
        self.release.wait(30)
        return CheckOutput(metrics=())


class _Works(BiasPlugin):
    def measure(self, ctx):
        return CheckOutput(metrics=(Metric("bias", "count", 3.0),))


@pytest.fixture
def registry(monkeypatch):
    def use(check_cls):
        monkeypatch.setattr(audit_registry, "plugin", lambda name: check_cls())

    return use


def test_crash_becomes_error_run(registry):
    registry(_Raises)
    result = pipeline.measure("bias", ctx=None, timeout=5)
    assert result.run.state == "error"
    assert result.run.message == "ZeroDivisionError: group of size zero"
    assert result.output.metrics == ()


def test_hang_becomes_error_run_after_timeout(registry):
    registry(_Hangs)
    try:
        result = pipeline.measure("bias", ctx=None, timeout=0.2)
    finally:
        _Hangs.release.set()
    assert result.run.state == "error"
    assert "timed out after 0.2 s" in result.run.message


def test_success_keeps_metrics(registry):
    registry(_Works)
    result = pipeline.measure("bias", ctx=None, timeout=5)
    assert result.run.state == "ran"
    assert result.output.metrics == (Metric("bias", "count", 3.0),)
