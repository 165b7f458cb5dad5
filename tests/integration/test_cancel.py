"""SIGTERM / SIGINT of `audit run` at several stages: every process it started is gone within
10 s, it exits non-zero, and its output folder holds no report, no findings, no `.partial`.

Real processes: `audit run` starts its own temporary Prefect server here (no PREFECT_API_URL),
the case that leaked a uvicorn process per cancelled CI job. The run's process tree is
sampled while it runs, so children that get orphaned still count. (SIGKILL, which no process
can clean up after, is `test_kill.py`.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from hostile.hostile_builders import audit_inputs

from audit.signing import init_keys

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GONE_WITHIN_S = 10.0

# (id, signal, runner, a line of `--verbose` output that marks the stage)
CASES = [
    ("term-server-start", signal.SIGTERM, "thread", "Starting temporary server"),
    ("int-checks", signal.SIGINT, "thread", "Task run 'check-"),
    ("term-publish", signal.SIGTERM, "thread", "Task run 'judge-"),
    ("term-checks-dask", signal.SIGTERM, "dask", "Task run 'check-"),
    ("int-checks-dask", signal.SIGINT, "dask", "Task run 'check-"),
]


@pytest.fixture(scope="module")
def slow_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny audit with a bias bootstrap long enough to be caught in the middle."""
    folder = tmp_path_factory.mktemp("cancel")
    init_keys(folder / "keys")

    def slow(spec: dict) -> None:
        spec["checks"]["bias"]["n_boot"] = 20000
        spec["runner"] = {"workers": 1}

    return audit_inputs(folder / "in", folder / "keys", patch=slow)


class Tree:
    """Every descendant of `root` seen while sampling, keyed by (pid, create time), with its
    latest command line: a child caught between fork and exec still shows its parent's
    (`audit.cli`), so the first sample of a Dask worker need not say `multiprocessing.spawn`.
    """

    def __init__(self, root: int) -> None:
        self.root = psutil.Process(root)
        self.seen: dict[tuple[int, float], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                for child in self.root.children(recursive=True):
                    try:
                        key = (child.pid, child.create_time())
                        self.seen[key] = " ".join(child.cmdline())[:120]
                    except psutil.Error:
                        continue
            except psutil.Error:
                return  # the root is gone
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def wait_for(self, part: str, timeout: float = 120) -> bool:
        """Until a process whose command line contains `part` has been seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(part in cmd for cmd in self.seen.values()):
                return True
            time.sleep(0.05)
        return False

    def alive(self) -> list[str]:
        out = []
        for (pid, created), cmd in self.seen.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(f"{pid}: {cmd}")
            except psutil.NoSuchProcess:
                continue
        return out


@pytest.mark.parametrize(
    ("sig", "runner", "marker"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_signal_stops_everything_and_leaves_nothing(
    slow_spec: Path, tmp_path: Path, sig: signal.Signals, runner: str, marker: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    out = tmp_path / "out"
    proc, tree, log = _start(slow_spec, out, runner, marker, env, tmp_path)
    # the processes under test must be up: the temporary server, and Dask's spawned workers
    assert tree.wait_for("uvicorn"), f"no temporary server:\n{''.join(log)[-3000:]}"
    if runner == "dask":
        assert tree.wait_for("multiprocessing.spawn"), f"no Dask worker: {tree.seen}"
    proc.send_signal(sig)
    _assert_all_gone(proc, tree, log, out, sig, GONE_WITHIN_S)


def _start(
    spec: Path, out: Path, runner: str, marker: str, env: dict, tmp_path: Path
) -> tuple[subprocess.Popen, Tree, list[str]]:
    """`audit run` as a real process, returned once its stderr shows `marker`."""
    env = {
        **env,
        "PYTHONPATH": str(ROOT),
        "AUDIT_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        "OMP_NUM_THREADS": "1",
    }
    argv = [sys.executable, "-u", "-m", "audit.cli", "--verbose", "run", str(spec)]
    proc = subprocess.Popen(
        [*argv, "--out", str(out), "--runner", runner],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    tree = Tree(proc.pid)
    log: list[str] = []
    hit = threading.Event()

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            if marker in line:
                hit.set()
        hit.set()

    threading.Thread(target=watch, daemon=True).start()
    hit.wait(timeout=240)
    assert proc.poll() is None, f"the run ended before {marker!r}:\n{''.join(log)[-3000:]}"
    return proc, tree, log


def _assert_all_gone(
    proc: subprocess.Popen, tree: Tree, log: list[str], out: Path, sig: int, within: float
) -> None:
    deadline = time.monotonic() + within
    code = proc.wait(timeout=within)
    # the run has exited; whatever it started must follow it before the deadline
    while (alive := tree.alive()) and time.monotonic() < deadline:
        time.sleep(0.1)
    tree.stop()
    text = "".join(log)[-3000:]
    assert not alive, f"still running {within} s after {signal.Signals(sig).name}: {alive}\n{text}"
    assert code == 128 + sig, f"exit {code}:\n{text}"
    assert "audit cancelled by" in text
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left == [], f"left in the output folder: {left}"


def test_cancel_from_the_prefect_ui_stops_the_run(
    prefect_server: str, slow_spec: Path, tmp_path: Path
) -> None:
    """The UI's cancel sets the flow run Cancelling; an in-process `audit run` on a shared
    server sees it within `flows.cancel.POLL_S` and stops as for SIGTERM (Dask included)."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelling

    from flows.cancel import POLL_S

    out = tmp_path / "out"
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    proc, tree, log = _start(slow_spec, out, "dask", "Task run 'check-", env, tmp_path)
    assert tree.wait_for("multiprocessing.spawn"), f"no Dask worker: {tree.seen}"
    running = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
    )
    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(flow_run_filter=running)
        client.set_flow_run_state(run.id, Cancelling(), force=True)
    _assert_all_gone(proc, tree, log, out, signal.SIGTERM, GONE_WITHIN_S + POLL_S)


def test_a_check_timeout_ends_with_nothing_running(tmp_path: Path) -> None:
    """A timed-out check is an `error` run, not a cancel: the run finishes with exit 2 and its
    signed error report, and the server and Dask workers it started are gone with it (the
    timed-out check's thread is abandoned, not waited for)."""
    init_keys(tmp_path / "keys")

    def timing_out(spec: dict) -> None:
        spec["checks"]["bias"]["n_boot"] = 20000
        spec["runner"] = {"workers": 1, "check_timeout": 0.05}

    spec = audit_inputs(tmp_path / "in", tmp_path / "keys", patch=timing_out)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    out = tmp_path / "out"
    proc, tree, log = _start(spec, out, "dask", "Task run 'check-", env, tmp_path)
    assert tree.wait_for("multiprocessing.spawn"), f"no Dask worker: {tree.seen}"
    code = proc.wait(timeout=240)
    deadline = time.monotonic() + GONE_WITHIN_S
    while (alive := tree.alive()) and time.monotonic() < deadline:
        time.sleep(0.1)
    tree.stop()
    text = "".join(log)[-3000:]
    assert not alive, f"still running {GONE_WITHIN_S} s after the run ended: {alive}\n{text}"
    assert code == 2, f"exit {code}:\n{text}"
    assert (out / "report.pdf").is_file() and "runner.check_timeout" in (
        out / "findings.json"
    ).read_text()
