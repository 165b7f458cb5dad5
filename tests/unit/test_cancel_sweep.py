"""Stopping a run's processes finds the ones started while it stops them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from audit.cli import _cancel

# On SIGTERM this process starts a grandchild and exits at once: the grandchild did not exist
# when the tree was read, and its parent is gone before anyone looks again.
SPAWN_ON_TERM = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    def spawn(signum, frame):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open(sys.argv[1], "w") as f:
            f.write(str(child.pid))
        os._exit(0)
    signal.signal(signal.SIGTERM, spawn)
    open(sys.argv[2], "w").close()
    time.sleep(120)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_CHILD_SUBREAPER")
def test_a_grandchild_started_during_the_stop_is_stopped_too(tmp_path: Path) -> None:
    assert _cancel.become_subreaper()
    pid_file, ready = tmp_path / "grandchild.pid", tmp_path / "ready"
    parent = subprocess.Popen([sys.executable, "-c", SPAWN_ON_TERM, str(pid_file), str(ready)])
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        found = _cancel.stop_descendants(term_wait=5.0)
        grandchild = int(pid_file.read_text())
        assert {parent.pid, grandchild} <= {p.pid for p in found}
        assert not psutil.pid_exists(grandchild) or (
            psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
        )
    finally:
        parent.kill()
        parent.wait()
