from __future__ import annotations

from pathlib import Path

import pytest


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
