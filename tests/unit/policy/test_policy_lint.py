"""Lint: the broken-policy corpus, clean shipped packs, contradictions, and schema.json."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest
from policy_helpers import rule_yaml

from audit.policy import POLICIES_DIR, deprecations, json_schema, lint, load_policy
from audit.policy.lint import (
    CONTRADICTION,
    DEPRECATED_LEVEL,
    EXPIRED_WAIVER,
    NOT_FOUND,
    _disjoint,
    _interval,
)
from audit.strict import BOTH_NAMES

TODAY = datetime.date(2026, 6, 1)
CORPUS = sorted((Path(__file__).parents[2] / "policies_broken").glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 10


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_broken_policy_reports_file_line_col_and_message(path):
    line, col, fragment = _EXPECT.match(path.read_text(encoding="utf-8").splitlines()[0]).groups()
    problems = lint(path, today=TODAY)
    assert problems, "a broken policy must not lint clean"
    assert all(re.match(rf"{re.escape(str(path))}:\d+:\d+: \S", p) for p in problems)
    assert any(p.startswith(f"{path}:{line}:{col}: ") and fragment in p for p in problems), problems


@pytest.mark.parametrize("path", sorted(POLICIES_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_policies_lint_clean(path):
    assert lint(path, today=TODAY) == []


def test_missing_file():
    assert lint("nope.yaml", today=TODAY) == [f"nope.yaml:1:1: {NOT_FOUND}"]


def test_all_problems_are_reported_in_file_order(write_policy):
    path = write_policy(
        rule_yaml("A", metric="selection_rat") + rule_yaml("A", severity="fatal"),
        waivers="- {rule: A, justification: j, approver: x, expires: 2020-01-01}\n",
    )
    problems = lint(path, today=TODAY)
    positions = [tuple(map(int, p.split(":")[1:3])) for p in problems]
    assert len(problems) == 4 and positions == sorted(positions)
    assert problems[-1].endswith(EXPIRED_WAIVER.format(rule="A", expires="2020-01-01"))


def test_waiver_may_name_an_inherited_rule(write_policy):
    path = write_policy(
        rule_yaml("MINE"),
        extends="default",
        waivers="- {rule: FAIR-002, justification: j, approver: x, expires: 2099-01-01}\n",
    )
    assert lint(path, today=TODAY) == []


def test_contradiction_message(write_policy):
    path = write_policy(
        rule_yaml("A", threshold='{op: ">=", value: 0.8}')
        + rule_yaml("B", threshold='{op: "<=", value: 0.5}')
    )
    (problem,) = lint(path, today=TODAY)
    assert problem.endswith(
        CONTRADICTION.format(
            a="A", b="B", metric="demographic_parity_ratio", on="value", ta=">= 0.8", tb="<= 0.5"
        )
    )


@pytest.mark.parametrize(
    ("a", "b", "disjoint"),
    [
        ((">=", 0.8), ("<=", 0.5), True),
        ((">=", 0.8), ("<=", 0.8), False),
        ((">", 0.8), ("<=", 0.8), True),
        ((">=", 0.8), ("<", 0.8), True),
        ((">=", 0.5), ("<=", 0.8), False),
        ((">=", 0.5), (">=", 0.8), False),
        (("<", 0.5), ("<", 0.1), False),
    ],
)
def test_disjoint_thresholds(a, b, disjoint):
    ia, ib = (_interval({"op": op, "value": v}) for op, v in (a, b))
    assert _disjoint(ia, ib) is disjoint
    assert _disjoint(ib, ia) is disjoint


@pytest.mark.parametrize(
    "other",
    [
        {"subject": "{feature: race}"},
        {"on": "ci_low"},
        {"metric": "equalized_odds_ratio"},
    ],
)
def test_rules_on_different_subjects_do_not_contradict(write_policy, other):
    rules = rule_yaml("A", threshold='{op: ">=", value: 0.8}')
    rules += rule_yaml("B", threshold='{op: "<=", value: 0.5}', **other)
    assert lint(write_policy(rules), today=TODAY) == []


def _robustness_rule(rid: str, subject: str, threshold: str = '{op: "<=", value: 0.05}') -> str:
    return rule_yaml(
        rid, check="robustness", metric="flip_rate", subject=subject, threshold=threshold
    )


def test_the_deprecated_severity_subject_is_listed_with_its_fix_and_still_loads(write_policy):
    path = write_policy(
        _robustness_rule("ROB", "{perturbation: typo, severity: 2}"),
        waivers="- {rule: ROB, subject: {severity: 3}, justification: j, approver: x, "
        "expires: 2099-01-01}\n",
    )
    rule, waiver = deprecations(path)
    assert rule.startswith(f"{path}:") and rule.endswith(
        DEPRECATED_LEVEL.format(owner="rule ROB", value=2)
    )
    assert waiver.endswith(DEPRECATED_LEVEL.format(owner="waiver for rule ROB", value=3))
    assert "Fix: write `level: 2`." in rule
    assert lint(path, today=TODAY) == []  # a deprecated name is not a problem
    policy = load_policy(path)
    assert policy.rules[0].subject.level == 2 and policy.waivers[0].subject.level == 3


def test_the_old_and_new_names_of_a_level_are_one_subject(write_policy):
    """Rules on `level: 2` and `severity: 2` judge the same metrics, so they contradict."""
    path = write_policy(
        _robustness_rule("A", "{level: 2}")
        + _robustness_rule("B", "{severity: 2}", threshold='{op: ">=", value: 0.5}')
    )
    (problem,) = lint(path, today=TODAY)
    assert problem.endswith(
        CONTRADICTION.format(
            a="A", b="B", metric="flip_rate", on="value", ta="<= 0.05", tb=">= 0.5"
        )
    )


def test_giving_the_level_under_both_names_is_an_error(write_policy):
    path = write_policy(_robustness_rule("A", "{level: 2, severity: 2}"))
    (problem,) = lint(path, today=TODAY)
    assert f"field `rules.0.subject`: {BOTH_NAMES.format(name='level', old='severity')}" in problem


def test_schema_json_is_up_to_date():
    shipped = json.loads((POLICIES_DIR / "schema.json").read_text(encoding="utf-8"))
    assert shipped == json_schema(), "regenerate with `audit policy schema > policies/schema.json`"
