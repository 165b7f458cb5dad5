"""The product runs from a plain install: no module that `audit run` or `audit demo` loads may
need a dev-only package (pytest, hypothesis). `audit demo --case text` once did, through the
shared tiny-tokenizer helper in `audit.testing`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = ("pytest", "hypothesis")
RUNTIME_MODULES = (
    "audit.cli",
    "audit.pipeline",
    "audit.demo.text",
    "audit.demo.image",
    "audit.demo.reviews",
    "audit.testing.hf",
    "flows.audit_flow",
)


def test_runtime_modules_import_without_dev_packages() -> None:
    # a None entry in sys.modules makes `import pytest` raise ImportError, as if not installed
    program = "; ".join(
        [
            "import sys",
            *(f"sys.modules[{name!r}] = None" for name in DEV_ONLY),
            "import importlib",
            *(f"importlib.import_module({name!r})" for name in RUNTIME_MODULES),
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
