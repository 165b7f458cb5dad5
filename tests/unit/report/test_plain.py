"""Findings in words (issue #20, "Plain language"): the summary speaks to reviewers."""

from __future__ import annotations

from audit.checks.bias._sentences import plain_ratio
from audit.plugin import MetricInfo
from audit.presentation.plain import generic_sentence, plural
from audit.records import Finding, Metric, Severity, Status, Threshold
from audit.report.context import summary
from tests.unit.report.fixtures import make_result


def _finding(metric: Metric, threshold: Threshold, status: Status = Status.FAIL) -> Finding:
    return Finding(
        rule="R-1",
        check=metric.check,
        metric_name=metric.name,
        status=status,
        severity=Severity.BLOCKER,
        threshold=threshold,
        message=f"{metric.name} [{metric.subject}] = {metric.value}; violates {threshold}",
        metric=metric,
    )


def _rate(group: str, value: float) -> Metric:
    return Metric(check="bias", name="selection_rate", value=value, feature="sex", group=group)


def test_plurals_are_real():
    assert [plural(1, "finding"), plural(3, "finding"), plural(0, "check")] == [
        "1 finding",
        "3 findings",
        "0 checks",
    ]
    assert plural(2, "analysis", "analyses") == "2 analyses"


def test_parity_ratio_names_the_groups_and_the_judged_bound():
    ratio = Metric(
        check="bias",
        name="demographic_parity_ratio",
        value=0.34 / 0.5,
        feature="sex",
        ci_low=0.6,
        ci_high=0.75,
    )
    finding = _finding(ratio, Threshold(">=", 0.8, on="ci_low"))
    rates = [_rate("Female", 0.34), _rate("Male", 0.5), _rate("Other", 0.4)]
    text = plain_ratio(finding, [ratio, *rates], "90%")
    assert text is not None
    assert "Female\u2069 is selected at 68% of the rate of \u2068Male" in text
    assert "90% CI of the ratio 60% to 75%" in text
    assert text.endswith("at least 80% for the lower end of the interval.")
    assert "demographic_parity_ratio" not in text and ">=" not in text


def test_a_ratio_over_other_groups_than_the_rates_show_is_not_worded_as_them():
    """After a small-group exclusion the ratio compares other groups: fall back, never guess."""
    ratio = Metric(check="bias", name="demographic_parity_ratio", value=0.9, feature="sex")
    finding = _finding(ratio, Threshold(">=", 0.8))
    assert plain_ratio(finding, [ratio, _rate("a", 0.2), _rate("b", 0.5)], "95%") is None


def test_generic_sentence_uses_the_catalogue_meaning_and_percentages():
    info = MetricInfo("flip_rate", ("probe",), "rate", "lower", "share of predictions that flip")
    metric = Metric(
        check="spurious", name="flip_rate", value=0.48, probe="tag", ci_low=0.44, ci_high=0.52
    )
    text = generic_sentence(_finding(metric, Threshold("<=", 0.05, on="ci_low")), info, "95%")
    assert text == (
        "The share of predictions that flip for probe tag is 48% (95% CI 44% to 52%); the "
        "policy requires at most 5.0% for the lower end of its 95% interval."
    )


def test_a_meaning_with_its_own_article_says_the_once():
    info = MetricInfo("gap", ("feature",), "difference", "lower", "the larger of two gaps")
    metric = Metric(check="bias", name="gap", value=0.3, feature="race")
    text = generic_sentence(_finding(metric, Threshold("<=", 0.1)), info, "95%")
    assert text.startswith("The larger of two gaps") and "The the" not in text


def test_summary_top_findings_carry_no_metric_names_or_operators():
    result = make_result()
    names = {m.name for m in result.metrics} | {f.metric_name for f in result.findings}
    top = summary(result, "the model")["top"]
    assert top
    for item in top:
        sentence = item["sentence"]
        assert not any(name in sentence for name in names if "_" in name), sentence
        assert ">=" not in sentence and "<=" not in sentence and "ci_low" not in sentence
    assert "(s)" not in summary(result, "the model")["paragraph"]
