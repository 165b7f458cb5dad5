"""The same audit on a 2-worker Dask LocalCluster gives the same findings as the thread runner,
with the checks' per-row work sent to the workers as shard tasks.

The workers run plain Dask tasks and never call Prefect; the flow uses the session's server.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest
import yaml

import flows
from audit.ledger import metric_key

pytestmark = pytest.mark.slow


def _small_batches(demo_spec: Path, folder: Path) -> Path:
    """The demo spec with robustness batches of 32, so that the minimum-flip search (cut on
    batch boundaries) spans several shards."""
    spec = yaml.safe_load(demo_spec.read_text())
    for section in ("model", "data"):
        spec[section]["path"] = str(demo_spec.parent / spec[section]["path"])
    robustness = spec["checks"].get("robustness") or {}
    spec["checks"]["robustness"] = {**robustness, "batch_size": 32}
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_dask_and_threads_agree(prefect_server: str, demo_spec: Path, tmp_path: Path) -> None:

    from flows.audit_flow import audit_flow

    spec_path = _small_batches(demo_spec, tmp_path)

    results, run_ids = {}, {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(Path(flows.__file__).parents[1]), prepend=os.pathsep)
        for kind in ("thread", "dask"):
            state = audit_flow(
                spec_path=str(spec_path),
                out_dir=str(tmp_path / kind),
                runner=kind,
                ledger_url=f"sqlite:///{tmp_path / kind / 'ledger.sqlite'}",
                return_state=True,
            )
            results[kind], _ = state.result()
            run_ids[kind] = state.state_details.flow_run_id

    # the per-row work really went out as shard tasks (the flow logs their tally)
    sent = _logged(run_ids["dask"], "Per-row work sent to Dask")
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


def _logged(flow_run_id: UUID, prefix: str, wait: float = 20.0) -> str:
    """The flow run's log line starting with `prefix` (logs reach the API asynchronously)."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    query = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    deadline = time.monotonic() + wait
    with get_client(sync_client=True) as client:
        while True:
            found = [
                g.message
                for g in client.read_logs(log_filter=query)
                if g.message.startswith(prefix)
            ]
            if found or time.monotonic() > deadline:
                assert found, f"no log line {prefix!r} within {wait:g} s"
                return found[0]
            time.sleep(0.5)
