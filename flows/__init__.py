"""Prefect orchestration of the audit library (thin: all logic lives in `audit`)."""

from __future__ import annotations

import os

# Set before Prefect is imported: no telemetry to the (absent) internet, which also keeps
# SQLite from logging "database is locked".
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
