from __future__ import annotations

from pathlib import Path

import pytest

from audit.checks.spurious.spec import FeatureProbe, PatchProbe, probe_name
from audit.errors import SpecError
from audit.spec import load_spec

MINIMAL = """\
name: credit-v3
model: {path: models/credit.pt2, task: binary}
data: {path: data/holdout.csv, label: default, features: [a, b], sensitive: [sex]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_minimal_spec_gets_defaults_and_resolved_paths(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL))
    assert spec.model.path == (tmp_path / "models/credit.pt2").resolve()
    assert spec.data.path == (tmp_path / "data/holdout.csv").resolve()
    assert spec.policy == "default" and spec.seed == 0
    assert spec.model.decision_threshold == 0.5
    assert set(spec.checks.enabled()) == {
        "bias",
        "spurious",
        "robustness",
        "identity_terms",
        "circuits",
        "performance",
    }


def test_contract_example_parses(tmp_path):
    text = (
        MINIMAL
        + """\
checks:
  bias: {}
  spurious:
    probes:
      - {type: feature, feature: zip_code}
      - {type: patch, region: [0, 0, 2, 2], value: 1.0}
      - {type: token, tokens: [17, 942]}
  robustness: false
policy: policies/default.yaml
seed: 7
signing: {key: keys/signer.key, cert: keys/signer.pem}
"""
    )
    spec = load_spec(write(tmp_path, text))
    assert spec.checks.robustness is False
    assert "robustness" not in spec.checks.enabled()
    probes = spec.checks.spurious.probes
    assert isinstance(probes[0], FeatureProbe) and isinstance(probes[1], PatchProbe)
    assert [probe_name(p) for p in probes] == ["zip_code", "patch@0,0,2,2", "tokens:17,942"]
    assert spec.signing.key == (tmp_path / "keys/signer.key").resolve()


def test_unknown_key_is_an_error_with_line_and_suggestion(tmp_path):
    path = write(tmp_path, MINIMAL.replace("task: binary", "task: binary, devise: cpu"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert f"{path}:2:" in message
    assert "unknown key `devise` in `model`" in message
    assert "did you mean `device`?" in message


def test_wrong_type_names_the_field(tmp_path):
    path = write(tmp_path, MINIMAL + "seed: many\n")
    with pytest.raises(SpecError, match=r"field `seed`: .*got 'many'"):
        load_spec(path)


def test_malformed_yaml_points_at_the_line(tmp_path):
    path = write(tmp_path, MINIMAL + "checks: {bias: [\n")
    with pytest.raises(SpecError, match=r"spec.yaml:\d+:\d+: invalid YAML"):
        load_spec(path)


def test_missing_required_field(tmp_path):
    path = write(tmp_path, "name: x\nmodel: {path: m.pt2, task: binary}\n")
    with pytest.raises(SpecError, match="field `data` is required but missing"):
        load_spec(path)


def test_path_traversal_is_refused(tmp_path):
    path = write(tmp_path, MINIMAL.replace("data/holdout.csv", "../../etc/passwd"))
    with pytest.raises(SpecError, match="climbs out of the spec's folder"):
        load_spec(path)


def test_model_needs_exactly_one_source(tmp_path):
    text = MINIMAL.replace("path: models/credit.pt2, ", "")
    with pytest.raises(SpecError, match="exactly one of `path`"):
        load_spec(write(tmp_path, text))


@pytest.mark.parametrize(
    "bad",
    ["name: ../evil", "name: 'a b'", "name: ''"],
)
def test_names_are_safe_for_paths(tmp_path, bad):
    with pytest.raises(SpecError, match="field `name`"):
        load_spec(write(tmp_path, MINIMAL.replace("name: credit-v3", bad)))


def test_spec_that_is_not_a_mapping(tmp_path):
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        load_spec(write(tmp_path, "- just\n- a list\n"))


def test_missing_file():
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec("/nonexistent/spec.yaml")
