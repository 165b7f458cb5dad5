"""The NYC LL144 pack reports the unknown-category count and each excluded category with its
justification, and its framework mapping puts them under the clauses that ask for them."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import numpy as np
from bias_helpers import make_context

from audit.checks.bias.check import BiasCheck
from audit.policy import judge, load_policy
from audit.policy.crosswalk import framework_mapping
from audit.records import Status

TODAY = datetime.date(2026, 1, 1)
JUSTIFICATION = "Category X is under 2% of the applicants; 6 RCNY 5-301(d) allows leaving it out."


def _child(tmp_path: Path) -> Path:
    file = tmp_path / "ll144-exclude.yaml"
    file.write_text(
        "name: ll144-exclude\nversion: '1'\nextends: nyc-ll144\n"
        "defaults:\n  small_groups: {action: exclude, below_share: 0.02, "
        f'justification: "{JUSTIFICATION}"}}\n',
        encoding="utf-8",
    )
    return file


def test_unknown_count_and_exclusions_are_evidence_for_their_clauses(tmp_path):
    policy = load_policy(_child(tmp_path))
    sex = np.array(["F"] * 400 + ["M"] * 400 + ["X"] * 5 + [None] * 7, dtype=object)
    rng = np.random.default_rng(4)
    y, pred = rng.integers(0, 2, sex.size), rng.integers(0, 2, sex.size)
    ctx = make_context(y, pred, {"sex": sex}, min_group_size=30, n_boot=50)
    ctx = dataclasses.replace(ctx, exclude_small_groups=policy.defaults.small_groups.exclusion())
    out = BiasCheck().measure(ctx)
    findings, _ = judge(policy, out.metrics, (), today=TODAY)

    (unknown,) = [f for f in findings if f.rule == "LL144-004"]
    assert unknown.status == Status.PASS and unknown.metric.value == 7
    excluded = [f for f in findings if f.metric is not None and f.metric.group == "X"]
    assert {f.rule for f in excluded} >= {"LL144-001", "LL144-002"}
    for f in excluded:
        assert f.status == Status.SKIPPED and JUSTIFICATION in f.message
    for f in excluded:
        if f.rule in ("LL144-001", "LL144-002"):
            assert ("nyc-ll144", "§ 5-301(d)") in {(c.framework, c.clause) for c in f.controls}

    (ll,) = framework_mapping(policy.rules, findings).frameworks
    clauses = {c.clause: c for c in ll.clauses}
    counted = clauses["§ 5-301(b)(5)"]
    assert counted.coverage == "evidence" and counted.status == Status.PASS
    assert [(r.rule, dict(r.statuses)) for r in counted.rules] == [("LL144-004", {Status.PASS: 1})]
    exclusions = clauses["§ 5-301(d)"]
    assert {r.rule for r in exclusions.rules} == {"LL144-001", "LL144-002"}
    assert all(r.statuses.get(Status.SKIPPED, 0) >= 1 for r in exclusions.rules)
    assert clauses["§ 5-303"].coverage == "not_in_scope"
