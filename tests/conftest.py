"""Session-wide isolation: keys, demo cache and ledger live in a temporary AUDIT_HOME."""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if "AUDIT_HOME" not in os.environ:
        os.environ["AUDIT_HOME"] = tempfile.mkdtemp(prefix="audit-home-")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
