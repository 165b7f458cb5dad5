"""Session-wide isolation: keys, demo cache and ledger live in a temporary AUDIT_HOME."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if "AUDIT_HOME" not in os.environ:
        os.environ["AUDIT_HOME"] = tempfile.mkdtemp(prefix="audit-home-")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """One temporary Prefect API for the whole session (each flow run then costs ~1 s).

    Yields the API URL, so subprocesses can share the server through `PREFECT_API_URL`.
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    import flows  # noqa: F401  (sets the no-telemetry environment before Prefect loads)

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())
