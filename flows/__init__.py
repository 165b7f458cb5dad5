"""Prefect orchestration of the audit library (thin: all logic lives in `audit`)."""

from __future__ import annotations

import os

# Set before Prefect is imported: no telemetry to the (absent) internet, which also keeps
# SQLite from logging "database is locked".
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Without PREFECT_API_URL each run starts a temporary server; its first start on a new machine
# also creates and migrates its database, which took over Prefect's default 20 s on a slow VM
# (`make demo` failed with "Timed out while attempting to connect to ephemeral Prefect API
# server"). The local test server waits as long (`flows.schedule.local_server`).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
