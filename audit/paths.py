"""Where the tool keeps its own files: keys, the demo cache, the audit ledger.

`AUDIT_HOME` overrides every location (tests and CI use it to stay isolated); otherwise the
platform's user config, cache and data folders are used.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

_APP = "audit"


def _home() -> Path | None:
    value = os.environ.get("AUDIT_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(_APP))


def cache_dir() -> Path:
    home = _home()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(_APP))


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(_APP))


def repo_dir() -> Path:
    """The folder that holds `policies/` and `report_templates/` beside the package."""
    return Path(__file__).resolve().parent.parent
