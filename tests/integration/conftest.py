from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect API for the whole session (each flow run then costs ~1 s)."""
    from prefect.testing.utilities import prefect_test_harness

    import flows  # noqa: F401  (sets the no-telemetry environment before Prefect loads)

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def demo_spec() -> Path:
    from audit.demo import build_demo

    return build_demo("tabular")


@pytest.fixture(scope="session")
def demo_run(prefect_server, demo_spec, tmp_path_factory):
    """The tabular demo audited once through the Prefect flow; shared by the tests."""
    from flows.audit_flow import audit_flow

    out = tmp_path_factory.mktemp("demo")
    result, published = audit_flow(spec_path=str(demo_spec), out_dir=str(out))
    return result, published
