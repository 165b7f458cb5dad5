"""`runner.cache: true`: a second audit of unchanged files reuses every measurement."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def test_unchanged_inputs_reuse_the_measurements(
    prefect_server: str, demo_spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    from audit import pipeline
    from flows.audit_flow import audit_flow

    raw = yaml.safe_load(demo_spec.read_text())
    raw["runner"] = {"cache": True}
    spec = demo_spec.with_name("audit-cached.yaml")  # beside its model and data
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    measured: list[str] = []
    real = pipeline.measure

    def counting(check: str, ctx, *, timeout: float) -> pipeline.CheckResult:
        measured.append(check)
        return real(check, ctx, timeout=timeout)

    monkeypatch.setattr(pipeline, "measure", counting)
    from audit.spec import load_spec

    enabled = sorted(load_spec(spec).checks.enabled())  # the spec's and the defaults
    results = []
    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: tmp_path / "storage"}):
        for run in ("first", "second"):
            result, _ = audit_flow(
                spec_path=str(spec),
                out_dir=str(tmp_path / run),
                ledger_url=f"sqlite:///{tmp_path / 'ledger.sqlite'}",
            )
            results.append(result)
            if run == "first":
                assert sorted(measured) == enabled
    assert sorted(measured) == enabled  # nothing measured again
    first, second = results
    assert [m.to_json() for m in second.metrics if "since_last" not in m.name] == [
        m.to_json() for m in first.metrics if "since_last" not in m.name
    ]
    assert any(p.is_file() for p in (tmp_path / "storage").iterdir())
