"""`audit run` exit codes through the real CLI entry point (docs/contract.md, section 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from audit.cli import main

pytestmark = pytest.mark.slow
QUICK = Path(__file__).resolve().parents[1] / "policies" / "quick-checks.yaml"


def _variant(demo_spec: Path, tmp_path: Path, **changes) -> Path:
    spec = yaml.safe_load(demo_spec.read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            spec[section][field] = value
        else:
            spec[section] = value
    for section, field in (("model", "path"), ("data", "path")):
        spec[section][field] = str(demo_spec.parent / spec[section][field])
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_missing_column_exits_2_with_one_line_error(prefect_server, demo_spec, tmp_path, capsys):
    features = [*yaml.safe_load(demo_spec.read_text())["data"]["features"], "zip_code"]
    spec = _variant(demo_spec, tmp_path, data__features=features)
    code = main(["run", str(spec), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "column 'zip_code' (features) is not in the data" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "report.pdf").exists()


def test_unfair_model_exits_1(prefect_server, demo_spec, tmp_path, capsys):
    """The demo MLP fails the four-fifths rule; the other checks are switched off (skipped),
    under a policy that allows it."""
    spec = _variant(
        demo_spec, tmp_path, checks={"spurious": False, "robustness": False}, policy=str(QUICK)
    )
    code = main(["run", str(spec), "--out", str(tmp_path / "out")])
    assert code == 1, capsys.readouterr()
    assert (tmp_path / "out" / "report.pdf").is_file()
