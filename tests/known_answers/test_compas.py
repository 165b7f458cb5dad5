"""ProPublica's COMPAS audit, reproduced on the vendored two-year file.

ProPublica ("Machine Bias", 2016) filtered the two-year data to screening within 30 days of
arrest, known recidivism, no ordinary traffic offences and a scored risk, and called a
decile score of 5 or more "high risk". On that filter this file holds 6,172 defendants.
Counts verified from the file for the two groups compared:

    African-American: TP 1188, FP 641, FN 473, TN 873  -> FPR 42.3%, FNR 28.5%
    Caucasian:        TP  414, FP 282, FN 408, TN 999  -> FPR 22.0%, FNR 49.6%

The often-quoted 44.9% / 23.5% and 28.0% / 47.7% come from ProPublica's notebook on its
survival-analysis extract (`cox-parsed.csv`), a different row set; the disparity has the same
direction and size (Black defendants' FPR about twice, FNR about 0.6 times the white rate).
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.checks.base import CheckContext, Predictions
from audit.checks.bias.check import BiasCheck
from audit.checks.bias.spec import BiasSpec
from audit.loaders.data import Dataset
from audit.policy import judge, load_policy
from audit.policy.model import SmallGroups

DATA = Path(__file__).parents[2] / "audit" / "demo" / "data" / "compas-scores-two-years.csv.gz"
BLACK, WHITE = "African-American", "Caucasian"


def _propublica_filter(frame: pd.DataFrame) -> pd.DataFrame:
    keep = (
        frame["days_b_screening_arrest"].between(-30, 30)
        & (frame["is_recid"] != -1)
        & (frame["c_charge_degree"] != "O")
        & (frame["score_text"] != "N/A")
    )
    return frame[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def compas():
    frame = _propublica_filter(pd.read_csv(DATA))
    high = (frame["decile_score"] >= 5).to_numpy(dtype=np.int64)
    y = frame["two_year_recid"].to_numpy(dtype=np.int64)
    data = Dataset(
        x=np.zeros((len(frame), 1), dtype=np.float32),
        y=y,
        sensitive=frame[["race"]],
        modality="tabular",
    )
    ctx = CheckContext(
        model=None,  # the scores are the model here
        data=data,
        predictions=Predictions(proba=np.column_stack([1 - high, high]).astype(float), label=high),
        config=BiasSpec(n_boot=500, intersections=False),
        seed=0,
        min_group_size=30,
    )
    return len(frame), BiasCheck().measure(ctx).metrics


def _get(metrics, name, group=None):
    (hit,) = [m for m in metrics if m.name == name and m.feature == "race" and m.group == group]
    return hit


def test_filter_keeps_propublicas_row_count(compas):
    n, metrics = compas
    assert n == 6172
    assert _get(metrics, "count", BLACK).value == 1188 + 641 + 473 + 873
    assert _get(metrics, "count", WHITE).value == 414 + 282 + 408 + 999


@pytest.mark.parametrize(
    ("name", "group", "expected"),
    [
        ("false_positive_rate", BLACK, 641 / (641 + 873)),
        ("false_positive_rate", WHITE, 282 / (282 + 999)),
        ("false_negative_rate", BLACK, 473 / (473 + 1188)),
        ("false_negative_rate", WHITE, 408 / (408 + 414)),
        ("selection_rate", BLACK, (1188 + 641) / 3175),
        ("selection_rate", WHITE, (414 + 282) / 2103),
    ],
)
def test_error_rates_by_race(compas, name, group, expected):
    metric = _get(compas[1], name, group)
    assert metric.value == pytest.approx(expected, abs=1e-12)
    assert metric.ci_low < metric.value < metric.ci_high


def test_the_published_disparity_is_clear_of_noise(compas):
    metrics = compas[1]
    black, white = (_get(metrics, "false_positive_rate", g) for g in (BLACK, WHITE))
    assert black.value == pytest.approx(0.4234, abs=5e-5)
    assert white.value == pytest.approx(0.2201, abs=5e-5)
    assert black.ci_low > white.ci_high  # the intervals do not overlap
    assert _get(metrics, "equalized_odds_difference").ci_low > 0.1


def _judged(small_groups: dict | None):
    """The scores judged under the four-fifths pack, on sex and race and their intersection."""
    policy = load_policy("four-fifths")
    if small_groups is not None:
        defaults = policy.defaults.model_copy(update={"small_groups": SmallGroups(**small_groups)})
        policy = dataclasses.replace(policy, defaults=defaults)
    frame = _propublica_filter(pd.read_csv(DATA))
    high = (frame["decile_score"] >= 5).to_numpy(dtype=np.int64)
    data = Dataset(
        x=np.zeros((len(frame), 1), dtype=np.float32),
        y=frame["two_year_recid"].to_numpy(dtype=np.int64),
        sensitive=frame[["sex", "race"]],
        modality="tabular",
    )
    ctx = CheckContext(
        model=None,
        data=data,
        predictions=Predictions(proba=np.column_stack([1 - high, high]).astype(float), label=high),
        config=BiasSpec(n_boot=200),
        seed=0,
        min_group_size=policy.defaults.min_group_size,
        exclude_small_groups=policy.defaults.small_groups.exclusion(),
    )
    metrics = BiasCheck().measure(ctx).metrics
    return judge(policy, metrics, (), today=datetime.date(2026, 1, 1))


def _parity(findings, feature):
    (hit,) = [f for f in findings if f.rule == "FF-002" and f.metric.feature == feature]
    return hit


def test_four_fifths_fails_and_names_the_undersized_race_groups():
    """Native American (n = 11) sits inside the race parity ratio, so it cannot pass or fail on
    the other groups; the verdict is still `fail` from the groups' own impact ratios."""
    findings, verdict = _judged(None)
    assert verdict == "fail"
    race = _parity(findings, "race")
    assert race.status == "insufficient_data"
    assert "group Native American (n = 11)" in race.message
    assert _parity(findings, "sex").status == "warn"  # both sexes are large: judged


def test_four_fifths_with_ll144_exclusion_judges_race_without_the_smallest_groups():
    why = "Asian and Native American defendants are under 2% of the rows."
    findings, verdict = _judged({"action": "exclude", "below_share": 0.02, "justification": why})
    assert verdict == "fail"
    race = _parity(findings, "race")
    assert race.status == "fail" and race.metric.value == pytest.approx(0.3543, abs=5e-5)
    assert "group Native American (n = 11), group Asian (n = 31)" in race.message
    assert why in race.message
    skipped = {
        f.metric.group for f in findings if f.status == "skipped" and f.metric.feature == "race"
    }
    assert skipped == {"Asian", "Native American"}
