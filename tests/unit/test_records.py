"""Records crossing stage boundaries stay JSON-ready and finite."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from audit.records import Metric


def test_numpy_scalars_become_plain_numbers():
    m = Metric(
        "bias",
        "selection_rate",
        np.float32(0.25),
        ci_low=np.array(0.2),
        ci_high=np.float64(0.3),
        n=np.int64(40),
        level=np.int8(2),
    )
    assert type(m.value) is float and type(m.ci_low) is float and type(m.n) is int
    assert json.loads(json.dumps(m.to_json()))["n"] == 40


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(bad):
    with pytest.raises(ValueError, match="not finite"):
        Metric("bias", "selection_rate", bad)


def test_findings_json_round_trips_including_findings_without_threshold():
    from audit.records import (
        AuditResult,
        CheckRun,
        Finding,
        PolicyInfo,
        Provenance,
        Severity,
        Status,
        Threshold,
        Verdict,
    )

    metric = Metric(
        "robustness",
        "flip_rate",
        0.07,
        perturbation="gaussian_noise",
        level=2,
        ci_low=0.05,
        ci_high=0.09,
        n=2000,
    )
    result = AuditResult(
        name="m",
        started_at="t0",
        finished_at="t1",
        verdict=Verdict.ERROR,
        policy=PolicyInfo("default", "1.0.0", "ab"),
        provenance=Provenance("m1", "d1", "s1", "ab", 3, {"torch": "2.13.0"}),
        metrics=(metric,),
        findings=(
            Finding(
                "ROB-001",
                "robustness",
                "flip_rate",
                Status.FAIL,
                Severity.MAJOR,
                Threshold("<=", 0.05),
                "too many flips",
                metric=metric,
            ),
            Finding(
                "CHECK-SPURIOUS",
                "spurious",
                "(check run)",
                Status.ERROR,
                Severity.BLOCKER,
                None,
                "crashed",
            ),
        ),
        check_runs=(CheckRun("spurious", "error", "ZeroDivisionError"),),
        model_info={"name": "m", "version": "3", "classes": 2},
        data_info={"rows": 2000, "sensitive": ["sex"]},
    )
    back = AuditResult.from_findings_json(json.loads(json.dumps(result.findings_json())))
    assert back.findings_json() == result.findings_json()
    # the model card and a re-rendered report need these too
    assert back.model_info == result.model_info and back.data_info == result.data_info
    assert back.findings[0].metric == metric and back.findings[1].threshold is None


def _with_level_waiver(result):
    """The report fixture's result, its graded ROB-001 finding waived for its level too."""
    from dataclasses import replace

    from audit.records import Waiver

    findings = tuple(
        replace(f, waiver=Waiver(f.rule, "j", "a", "2099-01-01", perturbation="x", level=2))
        if f.metric is not None and f.metric.level is not None
        else f
        for f in result.findings
    )
    return replace(result, findings=findings)


def test_a_version_1_findings_json_reads_back_as_its_version_2():
    from findings_v1 import as_version_1

    from audit.records import FINDINGS_SCHEMA_VERSION, AuditResult
    from tests.unit.report.fixtures import make_result

    doc = json.loads(json.dumps(_with_level_waiver(make_result()).findings_json()))
    assert doc["schema_version"] == FINDINGS_SCHEMA_VERSION == 2
    old = as_version_1(doc)
    graded = [f for f in old["findings"] if "metric_severity" in f]
    assert graded and all(f["waiver"]["severity"] == 2 for f in graded)
    assert sum("severity" in m for m in old["metrics"]) == 45  # 3 families x 5 levels x 3
    assert not any("level" in m for m in old["metrics"])
    back, new = AuditResult.from_findings_json(old), AuditResult.from_findings_json(doc)
    assert back == new
    assert back.findings_json() == doc


@pytest.mark.parametrize("version", [0, 3, "2", True, None])
def test_an_unknown_findings_json_version_is_refused_naming_it(version):
    from audit.records import AuditResult
    from tests.unit.report.fixtures import make_result

    doc = {**make_result().findings_json(), "schema_version": version}
    with pytest.raises(ValueError, match=rf"schema_version {version!r} is not one this audit"):
        AuditResult.from_findings_json(doc)
    del doc["schema_version"]
    with pytest.raises(KeyError, match="schema_version"):
        AuditResult.from_findings_json(doc)


def _fixture_document():
    from tests.unit.report.fixtures import make_result

    return json.loads(json.dumps(make_result().findings_json()))


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ("top level", ()),
        ("a metric", ("metrics", 0)),
        ("a finding", ("findings", 0)),
        ("a finding's threshold", ("findings", 0, "threshold")),
        ("a check run", ("checks", 0)),
        ("the provenance", ("provenance",)),
    ],
)
def test_a_key_no_record_declares_is_refused_where_it_is(where, path):
    from pydantic import ValidationError

    from audit.records import AuditResult, first_error

    doc = _fixture_document()
    node = doc
    for step in path:
        node = node[step]
    node["surplus"] = 1
    with pytest.raises(ValidationError) as err:
        AuditResult.from_findings_json(doc)
    located = first_error(err.value)
    assert located.startswith("surplus" if not path else ".".join(map(str, path))), where
    assert "surplus" in located and "Unexpected" in located


def test_a_metric_read_alone_refuses_unknown_keys_and_keeps_known_ones():
    from pydantic import ValidationError

    m = Metric("bias", "selection_rate", 0.5, feature="sex", group="F", n=40)
    assert Metric.from_json(m.to_json()) == m
    with pytest.raises(ValidationError, match="grup"):
        Metric.from_json({**m.to_json(), "grup": "F"})


def test_a_rules_rationale_and_references_survive_findings_json():
    """An audit read back from findings.json keeps what the report states of each rule."""
    from dataclasses import replace

    from audit.records import AuditResult
    from tests.unit.report.fixtures import make_result

    result = make_result()
    first = replace(result.findings[0], rationale="why", references=("https://x", "y"))
    result = replace(result, findings=(first, *result.findings[1:]))
    back = AuditResult.from_findings_json(json.loads(json.dumps(result.findings_json())))
    assert back.findings[0].rationale == "why"
    assert back.findings[0].references == ("https://x", "y")


def test_every_record_is_serialised_by_the_one_mechanism():
    """No class of the product writes its own `to_json`/`from_json`: `JSONRecord` does."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "audit"
    own = [
        f"{py.relative_to(root)}:{node.lineno} {node.name}.{fn.name}"
        for py in root.rglob("*.py")
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and node.name != "JSONRecord"
        for fn in node.body
        if isinstance(fn, ast.FunctionDef) and fn.name in ("to_json", "from_json")
    ]
    assert own == []


def test_readback_says_a_too_new_findings_json_is_too_new_and_locates_a_bad_value():
    from audit.errors import ReportError
    from audit.report.readback import result_from_findings

    doc = {**_fixture_document(), "schema_version": 3}
    with pytest.raises(ReportError) as err:
        result_from_findings(doc)
    assert err.value.message.startswith("findings.json schema_version 3 is not one this audit")
    assert "malformed" not in err.value.message and "provenance.versions" in err.value.fix
    doc = _fixture_document()
    doc["metrics"][2]["value"] = "high"
    with pytest.raises(ReportError) as err:
        result_from_findings(doc)
    assert err.value.message.startswith("malformed findings: metrics.2.value: Input should be")


def test_readback_refuses_a_malformed_version_1_document_with_a_typed_error():
    """Version 1 is reshaped before validation; a wrong shape there is malformed, not a crash."""
    from audit.errors import ReportError
    from audit.report.readback import result_from_findings

    doc = {**_fixture_document(), "schema_version": 1, "metrics": 5}
    with pytest.raises(ReportError) as err:
        result_from_findings(doc)
    assert err.value.message == "malformed findings: `metrics` must be a list, not int"
