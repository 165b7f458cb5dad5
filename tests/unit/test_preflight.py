"""audit/preflight.py: everything knowable before the model runs, each with a known answer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from audit import preflight as pf
from audit.checks import spurious as spurious_plugin
from audit.errors import DataError, ModelError, PolicyError, ReportError, SpecError
from audit.loaders.data import load_dataset
from audit.policy import deprecations
from audit.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "tests" / "policies" / "quick-checks.yaml"


def _write(folder: Path, spec: dict[str, Any]) -> Path:
    pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 0.0], "y": [0, 1], "sex": ["F", "M"]}).to_csv(
        folder / "data.csv", index=False
    )
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _tabular(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "t",
        "model": {"factory": "tiny_models:linear", "task": "binary"},
        "data": {"path": "data.csv", "label": "y", "features": ["a", "b"], "sensitive": ["sex"]},
        "checks": {},
    }
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            spec[section][field] = value
        else:
            spec[section] = value
    return spec


def test_a_valid_spec_passes_and_returns_the_spec(tmp_path: Path) -> None:
    spec = pf.preflight(_write(tmp_path, _tabular()), out=tmp_path / "out")
    assert spec.name == "t" and (tmp_path / "out").is_dir()


@pytest.mark.parametrize("check", ["bias", "spurious", "robustness", "performance"])
def test_a_required_check_switched_off_is_refused(tmp_path: Path, check: str) -> None:
    path = _write(tmp_path, _tabular(checks={check: False}))
    with pytest.raises(SpecError) as info:
        pf.preflight(path)
    assert info.value.message == pf.REQUIRED_OFF.format(check=check, policy="default")
    assert info.value.where == f"checks.{check}"
    assert "optional_checks" in info.value.fix


def test_a_policy_that_releases_the_check_lets_it_be_switched_off(tmp_path: Path) -> None:
    path = _write(tmp_path, _tabular(checks={"spurious": False}, policy=str(QUICK)))
    pf.preflight(path)
    with pytest.raises(SpecError, match="`bias` is required by policy `quick-checks`"):
        pf.preflight(_write(tmp_path, _tabular(checks={"bias": False}, policy=str(QUICK))))


def test_the_policy_option_overrides_the_spec(tmp_path: Path) -> None:
    path = _write(tmp_path, _tabular(checks={"robustness": False}))
    pf.preflight(path, policy=str(QUICK))


POLICY = """\
name: p
version: "1"
extends: default
rules:
  - id: X-1
    check: bias
    metric: demographic_parity_ratoi
    threshold: {op: ">=", value: 0.8}
    severity: blocker
    rationale: r
waivers:
  - {rule: FAIR-001, justification: j, approver: a, expires: 2000-01-01}
"""


def test_lint_problems_in_the_policy_are_refused_expired_waivers_are_not(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(POLICY)
    path = _write(tmp_path, _tabular(policy="p.yaml"))
    with pytest.raises(PolicyError) as info:
        pf.preflight(path)
    lines = info.value.message.splitlines()
    assert lines[0] == "the policy has 1 problem(s):"
    assert lines[1].startswith(f"{tmp_path / 'p.yaml'}:7:5: rule X-1: unknown metric")
    assert "did you mean `demographic_parity_ratio`" in lines[1]
    (tmp_path / "p.yaml").write_text(POLICY.replace("ratoi", "ratio"))
    pf.preflight(path)  # the expired waiver is the judge's business: ignored, and said so


def test_a_policy_with_the_deprecated_severity_subject_still_runs(tmp_path: Path) -> None:
    """`subject: {severity: 2}` (the level's old name) is for lint to list, not to refuse."""
    old = POLICY.replace("ratoi", "ratio").replace("check: bias", "check: robustness", 1)
    old = old.replace(
        "metric: demographic_parity_ratio", "metric: flip_rate\n    subject: {severity: 2}"
    )
    (tmp_path / "p.yaml").write_text(old)
    pf.preflight(_write(tmp_path, _tabular(policy="p.yaml")))
    assert pf.lint(tmp_path / "p.yaml", today=dt.date(2026, 6, 1), expired_waivers=False) == []
    (warning,) = deprecations(tmp_path / "p.yaml")
    assert warning.endswith("Fix: write `level: 2`.")


def test_a_missing_column_is_found_from_the_header_with_the_loaders_message(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, _tabular(data__features=["a", "zip"]))
    with pytest.raises(DataError) as early:
        pf.preflight(path)
    with pytest.raises(DataError) as late:
        spec = load_spec(path)
        load_dataset(spec.data, spec.model)
    assert str(early.value) == str(late.value)
    assert early.value.message == "column 'zip' (features) is not in the data."


@pytest.mark.parametrize(
    ("feature", "what"),
    [("zip", "no column of the data"), ("sex", "a column the model does not take")],
)
def test_a_feature_probe_must_name_a_model_feature(tmp_path: Path, feature: str, what: str) -> None:
    probes = {"probes": [{"type": "feature", "feature": feature}]}
    path = _write(tmp_path, _tabular(checks={"spurious": probes}))
    with pytest.raises(SpecError) as info:
        pf.preflight(path)
    assert info.value.message == spurious_plugin._PROBE_FEATURE.format(name=feature, what=what)
    assert info.value.where == "checks.spurious.probes[0].feature"
    assert info.value.fix == "probe one of `data.features`: a, b"


def _image(folder: Path, region: list[int], **arrays: np.ndarray) -> Path:
    content = {"x": np.zeros((4, 1, 8, 6), np.float32), "y": np.array([0, 1, 0, 1])}
    np.savez(folder / "images.npz", **{**content, **arrays})
    spec = {
        "name": "img",
        "model": {"path": "m.pt", "task": "binary", "modality": "image"},
        "data": {"path": "images.npz", "label": "y"},
        "checks": {"spurious": {"probes": [{"type": "patch", "region": region, "value": 1}]}},
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_patch_region_is_checked_against_the_npy_header(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        pf.preflight(_image(tmp_path, [4, 0, 5, 2]))
    assert (
        info.value.message == "probe region [4, 0, 5, 2] does not fit inside the data's 8x6 images."
    )
    pf.preflight(_image(tmp_path, [4, 0, 4, 6]))


def test_a_missing_npz_array_is_found_from_the_member_list(tmp_path: Path) -> None:
    path = _image(tmp_path, [0, 0, 1, 1])
    spec = yaml.safe_load(path.read_text())
    spec["data"]["sensitive"] = ["group"]
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(DataError, match=r"array 'group' \(sensitive\) is not in the file"):
        pf.preflight(path)


def test_a_hook_method_on_a_serialized_model_is_refused_before_loading(tmp_path: Path) -> None:
    path = _image(tmp_path, [0, 0, 1, 1])
    spec = yaml.safe_load(path.read_text())
    spec["checks"]["spurious"]["method"] = "deeplift"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ModelError, match="deeplift registers hooks") as info:
        pf.preflight(path)  # m.pt does not even exist: the format is known from the spec
    assert info.value.where == "checks.spurious.method"
    spec["checks"]["spurious"]["fallback_method"] = "saliency"
    path.write_text(yaml.safe_dump(spec))
    pf.preflight(path)


def _text(folder: Path, **spurious: Any) -> Path:
    np.savez(folder / "text.npz", x=np.ones((4, 5), np.int64), y=np.array([0, 1, 0, 1]))
    spec = {
        "name": "txt",
        "model": {"factory": "audit.demo.reviews:build_bag", "task": "binary", "modality": "text"},
        "data": {"path": "text.npz", "label": "y"},
        "checks": {"spurious": spurious},
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_layer_ig_needs_a_per_token_embedding(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="pools tokens") as info:
        pf.preflight(_text(tmp_path))
    assert info.value.where == "checks.spurious.embedding_layer"
    with pytest.raises(ModelError, match="has no submodule 'nope'"):
        pf.preflight(_text(tmp_path, embedding_layer="nope"))
    pf.preflight(_text(tmp_path, method="feature_ablation"))


def test_an_unwritable_output_folder_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ReportError, match="cannot write to the output folder"):
        pf.preflight(_write(tmp_path, _tabular()), out=blocker / "out")


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("61 * * *", pf.CRON_FIELDS.format(n=4)),
        ("61 * * * *", "the minute field's `61` is outside its range 0-59"),
        ("0 24 * * *", "the hour field's `24` is outside its range 0-23"),
        ("0 6 0 * *", "the day-of-month field's `0` is outside its range 1-31"),
        ("0 6 * 13 *", "the month field's `13` is outside its range 1-12 (or jan-dec)"),
        ("0 6 * * 1,9", "the weekday field's `9` is outside its range 0-7 (or sun-sat)"),
        ("0 6 * * fri-mon", "the weekday field's range `fri-mon` runs backwards"),
        ("*/0 * * * *", "the minute field's step in `*/0` must be 1 or more"),
    ],
)
def test_a_bad_cron_names_the_field_and_its_range(cron: str, problem: str) -> None:
    with pytest.raises(SpecError) as info:
        pf.check_cron(cron)
    assert info.value.message == f"{cron!r}: {problem}."
    assert info.value.where == "--cron" and info.value.fix == pf.CRON_FIX


@pytest.mark.parametrize(
    "cron", ["0 6 * * 1", "*/15 8-18 * * mon-fri", "0 0 1,15 jan,jul *", "@daily", "0 0 L * *"]
)
def test_valid_crons_pass(cron: str) -> None:
    pf.check_cron(cron)
