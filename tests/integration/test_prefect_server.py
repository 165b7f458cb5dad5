"""The audit served on a cron schedule against a real `prefect server start`, run on demand.

Starts a server on 127.0.0.1 with a temporary PREFECT_HOME, serves the audit flow through
`audit schedule` in a second process, triggers a run through the client, and checks the
run, its artifacts and its ledger row. Every wait is bounded; both processes always stop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flows
from audit.ledger import Ledger
from audit.spec import load_spec, sha256_file
from flows.schedule import local_server, prefect_env, stop_process

pytestmark = pytest.mark.slow

CRON = "0 3 * * 1"
# `audit schedule` exactly as the CLI registers it, without depending on the other commands.
SERVE = (
    "import typer; from audit.cli import history; app = typer.Typer(); history.register(app); app()"
)


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_server(tmp_path_factory.mktemp("prefect-home")) as url:
        yield url


def _wait(
    probe: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen, log: Path
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"serving exited ({proc.returncode}) before {what}:\n{tail}")
        found = probe()
        if found is not None:
            return found
        time.sleep(1)
    tail = log.read_text(errors="replace")[-3000:]
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}:\n{tail}")


def test_a_served_audit_runs_and_is_recorded(api_url: str, demo_spec: Path, tmp_path: Path) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    env = {**prefect_env(tmp_path / "serve-home", api_url), "AUDIT_LEDGER_URL": ledger_url}
    root = str(Path(flows.__file__).parents[1])  # the child runs elsewhere (cwd=tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    args = ["schedule", str(demo_spec), "--cron", CRON, "--out", str(tmp_path / "out")]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, *args, "--name", "weekly"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as c:

            def deployment() -> Any:
                try:
                    return c.read_deployment_by_name("audit/weekly")
                except ObjectNotFound:
                    return None

            dep = _wait(deployment, 120, "the deployment", proc, log)
            assert [s.schedule.cron for s in dep.schedules] == [CRON]
            assert dep.parameters["spec_path"] == str(demo_spec.resolve())
            run = run_deployment("audit/weekly", timeout=600, poll_interval=2)
            assert run.state is not None and run.state.is_completed(), log.read_text()[-3000:]
            artifacts = c.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
            )
        assert {"audit-verdict", "audit-findings", "audit-report"} <= {a.key for a in artifacts}
    finally:
        stop_process(proc)

    with Ledger(ledger_url) as led:
        (entry,) = led.entries()
        assert led.verify_chain().ok
    assert entry.run_id == str(run.id)
    assert run.name == f"{entry.name}-{entry.hashes['model'][:12]}"  # the model hashed once
    assert entry.name == load_spec(demo_spec).name
    report = Path(entry.report_path or "")
    assert report.is_relative_to(tmp_path / "out") and report.name == "report.pdf"
    assert entry.report_sha256 == sha256_file(report)


def test_prefect_yaml_deploys_to_a_work_pool(api_url: str, tmp_path: Path) -> None:
    """`flows/prefect.yaml` as the docs use it: a process pool, a cron schedule, parameters."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    root = Path(flows.__file__).parents[1]
    env = {**prefect_env(tmp_path / "deploy-home", api_url), "AUDIT_REPO": str(root)}
    prefect = [sys.executable, "-m", "prefect", "--no-prompt"]
    for args in (
        ["work-pool", "create", "audit-pool", "--type", "process"],
        ["deploy", "--prefect-file", "flows/prefect.yaml", "--all"],
    ):
        done = subprocess.run(
            prefect + args, env=env, cwd=root, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as c:
        dep = c.read_deployment_by_name("audit/adult-income-weekly")
    assert dep.work_pool_name == "audit-pool"
    assert [(s.schedule.cron, s.schedule.timezone) for s in dep.schedules] == [
        ("0 6 * * 1", "Europe/Berlin")
    ]
    assert dep.parameters["spec_path"] == f"{root}/audits/adult-income.yaml"
    assert dep.job_variables["env"]["AUDIT_LEDGER_URL"] == f"sqlite:///{root}/ledger.sqlite"
