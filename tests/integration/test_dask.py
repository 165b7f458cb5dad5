"""The same audit on a 2-worker Dask LocalCluster gives the same findings as the thread runner,
with the checks' per-row work sent to the workers as shard tasks.

Dask workers are separate processes; without PREFECT_API_URL each would start a temporary
Prefect server of its own, so the test runs against one real local server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import flows
from audit.ledger import metric_key
from flows.schedule import local_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_server(tmp_path_factory.mktemp("prefect-home")) as url:
        yield url


def test_dask_and_threads_agree(api_url: str, demo_spec: Path, tmp_path: Path) -> None:
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.audit_flow import audit_flow

    results = {}
    with pytest.MonkeyPatch.context() as mp, temporary_settings({PREFECT_API_URL: api_url}):
        mp.setenv("PREFECT_API_URL", api_url)  # inherited by the Dask worker processes
        mp.setenv("PYTHONPATH", str(Path(flows.__file__).parents[1]), prepend=os.pathsep)
        for kind in ("thread", "dask"):
            result, _ = audit_flow(
                spec_path=str(demo_spec),
                out_dir=str(tmp_path / kind),
                runner=kind,
                ledger_url=f"sqlite:///{tmp_path / kind / 'ledger.sqlite'}",
            )
            results[kind] = result
        with get_client(sync_client=True) as client:
            logs = [log.message for log in client.read_logs(limit=200)]

    # the per-row work really went out as shard tasks (the flow logs their tally)
    sent = next(m for m in logs if m.startswith("Per-row work sent to Dask"))
    for fn in ("attribute_slice", "min_flip_slice", "predict_slice"):
        assert re.search(rf"{fn} ×([2-9]|\d\d)", sent), sent
    threads, dask = results["thread"], results["dask"]
    for result in (threads, dask):
        runs = [(c.check, c.state, c.message) for c in result.check_runs]
        assert all(state == "ran" for _, state, _ in runs), runs
    assert dask.verdict == threads.verdict
    assert [(f.rule, f.status, f.metric and f.metric.subject) for f in dask.findings] == [
        (f.rule, f.status, f.metric and f.metric.subject) for f in threads.findings
    ]
    assert [metric_key(m) for m in dask.metrics] == [metric_key(m) for m in threads.metrics]
    np.testing.assert_allclose(
        [m.value for m in dask.metrics], [m.value for m in threads.metrics], rtol=1e-6, atol=1e-9
    )
