"""A one-person group, measured and judged: by default every rule over its feature is
`insufficient_data` naming the group and its n; with the policy's `small_groups: exclude` the
group is listed as excluded, with its share and the justification, in the findings (and so in
findings.json) and in the report's bias section. Neither is a silent pass."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from bias_helpers import make_context

from audit.checks.bias import BiasPlugin
from audit.checks.bias.check import BiasCheck
from audit.errors import AuditError
from audit.policy import judge, load_policy
from audit.presentation.view import ReportSettings, SectionInput
from audit.records import Status

TODAY = datetime.date(2026, 1, 1)
JUSTIFICATION = "Nonbinary applicants are under 2% of the data (6 RCNY 5-301 allows exclusion)."
EXCLUDE = {"action": "exclude", "below_share": 0.02, "justification": JUSTIFICATION}
RULES = [
    {
        "id": f"R-{metric}",
        "check": "bias",
        "metric": metric,
        "threshold": {"op": op, "value": value},
        "severity": "blocker",
        "rationale": "test",
    }
    for metric, op, value in [
        ("demographic_parity_ratio", ">=", 0.0),
        ("demographic_parity_difference", "<=", 1.0),
        ("equalized_odds_difference", "<=", 1.0),
        ("equalized_odds_ratio", ">=", 0.0),
        ("equal_opportunity_difference", "<=", 1.0),
        ("impact_ratio", ">=", 0.0),
        ("selection_rate", ">=", 0.0),
        ("minimum_detectable_difference", "<=", 1.0),
    ]
]


def _compas_like():
    """400 Female, 400 Male, one Nonbinary: every rule passes trivially once sizes allow."""
    rng = np.random.default_rng(3)
    sex = np.array(["Female"] * 400 + ["Male"] * 400 + ["Nonbinary"], dtype=object)
    y = rng.integers(0, 2, sex.size)
    pred = rng.integers(0, 2, sex.size)
    return y, pred, sex


def _policy(tmp_path: Path, small_groups: dict | None = None):
    defaults = {"min_group_size": 30, "multiple_comparisons": "none"}
    if small_groups is not None:
        defaults["small_groups"] = small_groups
    file = tmp_path / "policy.yaml"
    file.write_text(
        yaml.safe_dump({"name": "t", "version": "1", "defaults": defaults, "rules": RULES})
    )
    return load_policy(file)


def _run(tmp_path: Path, small_groups: dict | None = None):
    policy = _policy(tmp_path, small_groups)
    y, pred, sex = _compas_like()
    ctx = make_context(y, pred, {"sex": sex}, min_group_size=30, n_boot=100)
    ctx = dataclasses.replace(ctx, exclude_small_groups=policy.defaults.small_groups.exclusion())
    out = BiasCheck().measure(ctx)
    findings, verdict = judge(policy, out.metrics, (), today=TODAY)
    return out, findings, verdict


def test_by_default_every_rule_over_the_feature_is_insufficient_data(tmp_path):
    _, findings, verdict = _run(tmp_path)
    feature_level = [f for f in findings if f.metric is not None and f.metric.group is None]
    assert {f.rule for f in feature_level} == {
        r["id"] for r in RULES if r["metric"] not in ("impact_ratio", "selection_rate")
    }
    for f in feature_level:
        assert f.status == Status.INSUFFICIENT_DATA, f.message
        assert "group Nonbinary (n = 1)" in f.message
    nonbinary = [f for f in findings if f.metric is not None and f.metric.group == "Nonbinary"]
    assert {f.rule for f in nonbinary} == {"R-impact_ratio", "R-selection_rate"}
    assert all(f.status == Status.INSUFFICIENT_DATA for f in nonbinary)
    assert not [f for f in findings if f.status == Status.PASS and "Nonbinary" in f.message]
    assert verdict == "error"  # nothing failed, but the feature could not be judged


def test_exclusion_lists_the_group_and_judges_the_rest(tmp_path):
    out, findings, verdict = _run(tmp_path, EXCLUDE)
    nonbinary = [f for f in findings if f.metric is not None and f.metric.group == "Nonbinary"]
    assert {f.rule for f in nonbinary} == {"R-impact_ratio", "R-selection_rate"}
    for f in nonbinary:
        assert f.status == Status.SKIPPED
        assert "0.12% of the rows (n = 1)" in f.message and JUSTIFICATION in f.message
    feature_level = [f for f in findings if f.metric is not None and f.metric.group is None]
    assert feature_level and all(f.status == Status.PASS for f in feature_level)
    for f in feature_level:
        assert "excludes group Nonbinary (n = 1) under defaults.small_groups" in f.message
    assert verdict == "pass"
    # findings.json carries the exclusion: the findings and the declaring metric.
    text = json.dumps([f.to_json() for f in findings] + [m.to_json() for m in out.metrics])
    assert JUSTIFICATION in text and '"name": "excluded_share"' in text


def test_report_lists_each_excluded_group_with_n_rate_and_justification(tmp_path):
    out, findings, _ = _run(tmp_path, EXCLUDE)
    section = BiasPlugin().section(
        SectionInput(
            metrics=out.metrics,
            findings=tuple(findings),
            evidence=out.evidence,
            settings=ReportSettings(),
        )
    )
    (excluded,) = [t for t in section.tables if t.cls == "excluded"]
    assert JUSTIFICATION in excluded.caption
    assert excluded.columns == ("Feature", "Group", "n", "Share of rows", "Selection rate")
    ((feature, group, n, share, rate),) = excluded.rows
    assert (feature.text, group.text, n.text, share.text) == ("sex", "Nonbinary", "1", "0.12%")
    selected = int(_compas_like()[1][-1])
    assert rate.text.startswith(f"{selected}")


def test_unknown_category_is_reported_under_nyc_ll144():
    policy = load_policy("nyc-ll144")
    sex = np.array(["F"] * 300 + ["M"] * 300 + [None] * 5, dtype=object)
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 2, sex.size), rng.integers(0, 2, sex.size)
    out = BiasCheck().measure(make_context(y, pred, {"sex": sex}, min_group_size=30, n_boot=50))
    findings, _ = judge(policy, out.metrics, (), today=TODAY)
    (unknown,) = [f for f in findings if f.rule == "LL144-004"]
    assert unknown.status == Status.PASS and unknown.metric.value == 5
    assert "unknown_count [sex] = 5" in unknown.message


def test_exclusion_without_a_share_or_justification_is_refused(tmp_path):
    for small_groups in (
        {"action": "exclude", "below_share": 0.02},
        {"action": "exclude", "justification": "why"},
        {"below_share": 0.02},
    ):
        with pytest.raises(AuditError, match="small_groups"):
            _policy(tmp_path, small_groups)
