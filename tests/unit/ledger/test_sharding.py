"""Runner selection, the per-worker input cache, and shard tasks that match the whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.checks.rows import shard_slices
from audit.errors import SpecError
from audit.loaders.model import model_sha256
from audit.spec import RunnerSpec, load_spec, sha256_file
from flows import sharding


@pytest.fixture
def tiny_spec(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": (x[:, 0] > 0) * 1})
    frame.to_csv(tmp_path / "data.csv", index=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        'name: tiny\nmodel: {factory: "tiny_models:linear", task: binary}\n'
        "data: {path: data.csv, label: y, features: [a, b, c]}\n"
    )
    return spec


def _hashes(spec_path: Path) -> dict[str, str]:
    spec = load_spec(spec_path)
    return {
        "spec": sha256_file(spec_path),
        "data": sha256_file(spec.data.path),
        "model": model_sha256(spec.model),
    }


def test_shards_concatenate_to_the_whole(tiny_spec: Path) -> None:
    """A shard predicts its rows with the worker's own model, sent only the rows."""
    hashes = _hashes(tiny_spec)
    inputs = sharding.shard_inputs(str(tiny_spec), hashes)
    x = inputs.data.x
    parts = [
        sharding.run_shard(
            "audit.checks.rows:predict_slice",
            str(tiny_spec),
            hashes,
            rows,
            {"batch_size": 8},
            {"x": x[rows]},
        )
        for rows in shard_slices(len(x), 8, 4)
    ]
    whole = inputs.runner.predict_proba(x, batch_size=8)
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_inputs_are_loaded_once_per_process(tiny_spec: Path) -> None:
    hashes = _hashes(tiny_spec)
    first = sharding.shard_inputs(str(tiny_spec), hashes)
    assert sharding.shard_inputs(str(tiny_spec), hashes) is first


def test_a_file_changed_since_the_audit_began_is_refused(tiny_spec: Path) -> None:
    hashes = {**_hashes(tiny_spec), "data": "0" * 64}
    with pytest.raises(SpecError, match="data changed on disk"):
        sharding.shard_inputs(str(tiny_spec), hashes)


def test_runner_selection() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(sharding.task_runner_for(RunnerSpec()), ThreadPoolTaskRunner)
    remote = sharding.task_runner_for(RunnerSpec(kind="dask", address="tcp://127.0.0.1:8786"))
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://127.0.0.1:8786"
    local = sharding.task_runner_for(RunnerSpec(kind="dask", workers=3))
    assert local.cluster_kwargs["n_workers"] == 3 and local.cluster_kwargs["host"] == "127.0.0.1"


def test_runner_override() -> None:
    assert sharding.runner_override(RunnerSpec(), "dask").kind == "dask"
    by_address = sharding.runner_override(RunnerSpec(), None, "tcp://10.0.0.5:8786")
    assert (by_address.kind, by_address.address) == ("dask", "tcp://10.0.0.5:8786")
    assert sharding.runner_override(RunnerSpec(kind="dask")) == RunnerSpec(kind="dask")
    with pytest.raises(SpecError, match="invalid task runner override"):
        sharding.runner_override(RunnerSpec(), "spark")
