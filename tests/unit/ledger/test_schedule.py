"""`audit schedule` building blocks: cron validation, parameters, the deployment object."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.errors import SpecError
from flows import schedule

SPEC = """\
name: tiny
model: {factory: "tiny_models:linear", task: binary}
data: {path: data.csv, label: y, features: [a, b, c]}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    (tmp_path / "data.csv").write_text("a,b,c,y\n0,0,0,1\n")
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


def test_a_bad_cron_is_a_typed_error() -> None:
    with pytest.raises(SpecError) as info:
        schedule._cron_schedule("every monday", None)
    assert info.value.where == "--cron" and info.value.fix == schedule.BAD_CRON_FIX


def test_parameters_are_absolute_and_runs_get_their_own_folder(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(spec.parent)
    params = schedule.parameters("spec.yaml", "reports", "strict")
    assert params == {
        "spec_path": str(spec.resolve()),
        "out_root": str((spec.parent / "reports").resolve()),
        "policy": "strict",
    }


def test_the_deployment_carries_schedule_and_parameters(spec: Path) -> None:
    dep = schedule.audit_deployment(spec, "0 6 * * 1", timezone="Europe/Berlin")
    assert dep.name == "tiny"
    assert dep.entrypoint == "flows.audit_flow.audit_flow"
    (sched,) = dep.schedules
    assert (sched.schedule.cron, sched.schedule.timezone) == ("0 6 * * 1", "Europe/Berlin")
    assert dep.parameters == {"spec_path": str(spec.resolve())}
    assert "tiny" in dep.tags


def test_serving_needs_a_real_server(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}), pytest.raises(SpecError) as info:
        schedule.serve_audit(spec, "0 6 * * 1")
    assert info.value.message == schedule.NO_SERVER
