"""Recurring audits: serve the audit flow on a cron schedule, and a local Prefect server.

`audit schedule SPEC --cron EXPR` calls `serve_audit`: the process registers a deployment
with that schedule and runs each scheduled flow run itself until stopped. The scheduler
that creates those runs lives in `prefect server start`, so serving needs a real server
(`PREFECT_API_URL`); `local_server` starts one on loopback for tests, benchmarks and demos.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from audit.errors import SpecError
from audit.preflight import CRON_FIX, check_cron
from audit.spec import load_spec

BAD_CRON = "{cron!r} is not a cron expression: {error}"
BAD_CRON_FIX = CRON_FIX
NO_SERVER = (
    "`audit schedule` needs a Prefect server, whose scheduler creates the runs; "
    "PREFECT_API_URL is not set."
)
NO_SERVER_FIX = (
    "start one with `prefect server start --host 127.0.0.1` and set "
    "PREFECT_API_URL=http://127.0.0.1:4200/api (docs/scheduling.md)."
)
_SERVER_CMD = (
    sys.executable,
    "-m",
    "prefect",
    "server",
    "start",
    "--host",
    "127.0.0.1",
    "--analytics-off",
)
SERVER_DID_NOT_START = "the Prefect server did not answer within {seconds:g} s; its log:\n{log}"


def _cron_schedule(cron: str, timezone: str | None) -> Any:
    from prefect.client.schemas.schedules import CronSchedule

    check_cron(cron)  # names the wrong field and its range; Prefect's message does not
    try:
        return CronSchedule(cron=cron, timezone=timezone)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[-1]
        raise SpecError(
            BAD_CRON.format(cron=cron, error=first), where="--cron", fix=BAD_CRON_FIX
        ) from None


def parameters(
    spec_path: str | Path, out_dir: str | Path | None = None, policy: str | None = None
) -> dict[str, Any]:
    """The flow parameters of a scheduled audit; paths absolute, since runs start elsewhere.

    `out_dir` is the root: every run writes to its own `out_dir/<name>/<timestamp>`.
    """
    params: dict[str, Any] = {"spec_path": str(Path(spec_path).resolve())}
    if out_dir is not None:
        params["out_root"] = str(Path(out_dir).resolve())
    if policy is not None:
        params["policy"] = policy
    return params


def audit_deployment(
    spec_path: str | Path,
    cron: str,
    *,
    name: str | None = None,
    out_dir: str | Path | None = None,
    policy: str | None = None,
    timezone: str | None = None,
) -> Any:
    """A `RunnerDeployment` of the audit flow with a cron schedule and fixed parameters.

    The spec is read now, so a broken spec fails here rather than at 3 a.m.
    """
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from flows.audit_flow import audit_flow

    spec = load_spec(spec_path)
    schedule = _cron_schedule(cron, timezone)
    return audit_flow.to_deployment(
        name=name or spec.name,
        schedule=Cron(schedule.cron, timezone=schedule.timezone),
        parameters=parameters(spec_path, out_dir, policy),
        description=f"Recurring audit of {spec.name} ({cron})",
        tags=["audit", spec.name],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def serve_audit(spec_path: str | Path, cron: str, **kwargs: Any) -> None:
    """Register the scheduled deployment and execute its runs here until interrupted."""
    from prefect import serve
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():  # from the environment or the active Prefect profile
        raise SpecError(NO_SERVER, where="PREFECT_API_URL", fix=NO_SERVER_FIX)

    serve(audit_deployment(spec_path, cron, **kwargs), print_starting_message=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    """The environment of a Prefect process: isolated home, no telemetry, loopback API."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop_process(proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not gone within `timeout`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def local_server(home: Path | None = None, *, start_timeout: float = 90.0) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1 and a free port; yields the API URL, then stops it."""
    with contextlib.ExitStack() as stack:
        if home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="prefect-home-")))
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        log = open(home / "server.log", "wb")  # noqa: SIM115 (closed by the stack)
        stack.callback(log.close)
        proc = subprocess.Popen(
            [*_SERVER_CMD, "--port", str(port)],
            env=prefect_env(home),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.callback(stop_process, proc)
        deadline = time.monotonic() + start_timeout
        while not _healthy(api_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = (home / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(SERVER_DID_NOT_START.format(seconds=start_timeout, log=text))
            time.sleep(0.5)
        yield api_url


__all__ = [
    "audit_deployment",
    "free_port",
    "local_server",
    "parameters",
    "prefect_env",
    "serve_audit",
    "stop_process",
]
