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
        severity=np.int8(2),
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
        severity=2,
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
