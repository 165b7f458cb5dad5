"""Multiple-comparison families: levels, rebuilt bounds, p-value rules, power, and old files."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from policy_helpers import metric, rule_yaml

from audit.policy import judge
from audit.records import CheckRun, Finding, IntervalBasis, Metric, PowerBasis, Status
from audit.stats import wilson_interval

TODAY = datetime.date(2026, 1, 1)
RAN = (CheckRun("bias", "ran"), CheckRun("spurious", "ran"))


def _rates(ks: list[int], n: int = 200) -> list[Metric]:
    low, high = wilson_interval(np.array(ks), n, 0.95)
    return [
        metric(
            "selection_rate",
            k / n,
            group=f"g{i}",
            n=n,
            ci_low=low[i],
            ci_high=high[i],
            interval=IntervalBasis("wilson", 0.95, successes=k, trials=n),
        )
        for i, k in enumerate(ks)
    ]


RATE_RULE = rule_yaml(metric="selection_rate", threshold='{op: "<=", value: 0.3}', on="ci_low")


@pytest.mark.parametrize("method", ["holm", "bonferroni"])
def test_family_wise_methods_judge_the_simultaneous_bound(make_policy, method):
    policy = make_policy(RATE_RULE, multiple_comparisons=method)
    findings, _ = judge(policy, _rates([60, 70, 75, 90]), RAN, today=TODAY)
    for f in findings:
        a = f.adjustment
        assert a.family_size == 4 and a.level == pytest.approx(1 - 0.05 / 4)
        k = f.metric.interval.successes
        assert a.adjusted == pytest.approx(wilson_interval(k, 200, 1 - 0.05 / 4)[0])
        assert a.raw == f.metric.ci_low and a.adjusted < a.raw
        assert ("at 98.75% for a family of 4" in f.message) and method in f.message
    # 90/200 is clear of 0.3 even at the simultaneous level; 75/200 only at the raw one
    assert [f.status for f in findings] == [Status.PASS, Status.PASS, Status.PASS, Status.FAIL]


def test_holm_reports_holm_adjusted_p_values(make_policy):
    policy = make_policy(RATE_RULE, multiple_comparisons="holm")
    findings, _ = judge(policy, _rates([60, 75, 80, 90]), RAN, today=TODAY)
    p = [f.adjustment.p_value for f in findings]
    smallest = min(p)
    (first,) = [f for f in findings if f.adjustment.p_value == smallest]
    assert first.adjustment.p_adjusted == pytest.approx(4 * smallest)


def test_none_reads_the_reported_bound(make_policy):
    policy = make_policy(RATE_RULE, multiple_comparisons="none")
    findings, _ = judge(policy, _rates([60, 75]), RAN, today=TODAY)
    assert [f.adjustment.adjusted for f in findings] == [f.metric.ci_low for f in findings]
    assert [f.status for f in findings] == [Status.PASS, Status.FAIL]


def test_bh_uses_the_benjamini_yekutieli_level(make_policy):
    """Two of four selected by BH: the intervals are at 1 - 2α/4."""
    policy = make_policy(RATE_RULE, multiple_comparisons="bh")
    findings, _ = judge(policy, _rates([60, 62, 95, 100]), RAN, today=TODAY)
    assert all(f.adjustment.level == pytest.approx(1 - 2 * 0.05 / 4) for f in findings)
    assert [f.status for f in findings] == [Status.PASS, Status.PASS, Status.FAIL, Status.FAIL]


def test_a_bootstrap_bound_is_widened_by_its_normal_tails(make_policy):
    policy = make_policy(rule_yaml(on="ci_low"))  # demographic_parity_ratio >= 0.8 on ci_low
    metrics = [
        metric(value=0.9, ci_low=0.81, ci_high=0.98, interval=IntervalBasis("percentile", 0.95)),
        metric(value=0.9, ci_low=0.81, ci_high=0.98, feature="race"),  # no basis: assumed 95%
    ]
    findings, _ = judge(policy, metrics, RAN, today=TODAY)
    for f in findings:
        assert f.adjustment.adjusted < 0.8 and f.status == Status.FAIL  # not shown compliant
    assert "made at the policy's level" in findings[1].adjustment.construction


def test_a_rule_on_p_values_judges_adjusted_p_values(make_policy):
    rule = rule_yaml(check="spurious", metric="mcnemar_p", threshold='{op: ">=", value: 0.05}')
    policy = make_policy(rule, multiple_comparisons="holm")
    metrics = [Metric("spurious", "mcnemar_p", p, probe=f"p{i}") for i, p in enumerate([0.02, 0.5])]
    findings, _ = judge(policy, metrics, RAN, today=TODAY)
    assert [f.adjustment.p_adjusted for f in findings] == pytest.approx([0.04, 0.5])
    assert [f.status for f in findings] == [Status.FAIL, Status.PASS]
    assert "adjusted by holm across a family of 2" in findings[0].message


def test_a_pass_without_power_says_so(make_policy):
    policy = make_policy(
        rule_yaml(metric="demographic_parity_difference", threshold='{op: "<=", value: 0.1}')
    )
    small = metric(
        "demographic_parity_difference", 0.05, power=PowerBasis((40, 45), 0.3, "difference")
    )
    big = metric(
        "demographic_parity_difference",
        0.05,
        feature="race",
        power=PowerBasis((4000, 4500), 0.3, "difference"),
    )
    (weak, strong), _ = judge(policy, [small, big], RAN, today=TODAY)
    assert weak.status == strong.status == Status.PASS
    assert weak.detectable.gap > 0.1 and "not enough data to show compliance" in weak.message
    assert strong.detectable.gap < 0.1 and "not enough data" not in strong.message
    assert weak.detectable.alpha == pytest.approx(0.05 / 2)  # point rule: Bonferroni level


def test_findings_round_trip_with_family_and_power(make_policy):
    policy = make_policy(RATE_RULE)
    (f, _), _ = judge(policy, _rates([60, 75]), RAN, today=TODAY)
    again = Finding.from_json(f.to_json())
    assert again.adjustment == f.adjustment and again.detectable == f.detectable
    m = f.metric
    assert Metric.from_json(m.to_json()) == m


def test_findings_json_v1_without_the_new_fields_still_reads():
    old = {
        "rule": "R",
        "check": "bias",
        "metric": "demographic_parity_ratio",
        "value": 0.9,
        "ci_low": 0.8,
        "ci_high": 1.0,
        "n": 50,
        "severity": "blocker",
        "status": "pass",
        "message": "m",
    }
    f = Finding.from_json(old)
    assert f.adjustment is None and f.detectable is None and f.metric.interval is None
