"""Required checks by default; switching one off takes a policy that names it."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from audit.errors import PolicyError
from audit.policy import POLICIES_DIR, judge, load_policy, shipped_policies
from audit.records import CheckRun, Metric, Status, Verdict

ROOT = Path(__file__).resolve().parents[3]
QUICK = ROOT / "tests" / "policies" / "quick-checks.yaml"
TODAY = datetime.date(2025, 1, 1)


@pytest.mark.parametrize("name", shipped_policies())
def test_every_shipped_pack_requires_every_check_its_rules_judge(name: str) -> None:
    policy = load_policy(name)
    assert {r.check for r in policy.rules} <= set(policy.required_checks)
    assert policy.optional_checks == ()


def test_default_requires_every_check() -> None:
    assert set(load_policy("default").required_checks) == {
        "bias",
        "spurious",
        "robustness",
        "identity_terms",
        "circuits",
        "performance",
    }


def test_a_child_releases_only_what_it_names() -> None:
    policy = load_policy(QUICK)
    assert policy.required_checks == ("bias", "performance")
    assert policy.optional_checks == ("spurious", "robustness", "identity_terms", "circuits")
    assert {r.id for r in policy.rules} == {r.id for r in load_policy("default").rules}


def test_a_grandchild_can_require_a_released_check_again(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text(
        f"name: child\nversion: '1'\nextends: {QUICK}\nrequired_checks: [robustness]\n"
    )
    policy = load_policy(child)
    assert set(policy.required_checks) == {"bias", "performance", "robustness"}
    assert policy.optional_checks == ("spurious", "identity_terms", "circuits")


def test_required_and_optional_at_once_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\nversion: '1'\nextends: default\n"
        "required_checks: [bias]\noptional_checks: [bias]\n"
    )
    with pytest.raises(PolicyError, match="either required or optional"):
        load_policy(path)


def _runs(**states: str) -> list[CheckRun]:
    return [CheckRun(check, state, "switched off in the spec") for check, state in states.items()]


def test_default_with_bias_switched_off_is_an_error() -> None:
    runs = _runs(bias="skipped", spurious="skipped", robustness="skipped", performance="skipped")
    findings, verdict = judge(load_policy("default"), [], runs, today=TODAY)
    assert verdict == Verdict.ERROR
    fair = [f for f in findings if f.rule == "FAIR-001"]
    assert fair[0].status == Status.ERROR and "required by policy `default`" in fair[0].message


def test_the_released_checks_are_skipped_not_errors() -> None:
    runs = [
        *_runs(spurious="skipped", robustness="skipped", identity_terms="skipped"),
        CheckRun("bias", "ran", ""),
        CheckRun("performance", "ran", ""),
    ]
    metrics = [
        Metric(check="bias", name="demographic_parity_ratio", value=0.95, feature="sex", n=500),
        Metric(check="bias", name="equalized_odds_difference", value=0.01, feature="sex", n=500),
        Metric(check="performance", name="expected_calibration_error", value=0.01),
    ]
    findings, verdict = judge(load_policy(QUICK), metrics, runs, today=TODAY)
    assert verdict == Verdict.PASS
    skipped = {f.rule for f in findings if f.status == Status.SKIPPED}
    identity = {f"IDT-00{i}" for i in range(1, 7)}
    assert skipped == {"SPUR-001", "SPUR-002", "SPUR-003", "ROB-001", "ROB-002", *identity}


def test_spurious_without_probes_is_skipped_not_an_error_under_default() -> None:
    """Required, ran, and declared no probes: its probe rules are not applicable."""
    from audit.checks.spurious.check import NO_PROBES, _not_applicable

    run = CheckRun("spurious", "ran", "", not_applicable=_not_applicable(False, "tabular"))
    metrics = [
        Metric(check="spurious", name="probes_declared", value=0.0),
        # the explainer sanity check runs without probes (it needs only the model)
        Metric(check="spurious", name="sanity_rank_correlation", value=0.1, method="saliency"),
    ]
    findings, _ = judge(load_policy("default"), metrics, [run], today=TODAY)
    status = {f.rule: f.status for f in findings if f.check == "spurious"}
    assert status == {
        "SPUR-001": Status.SKIPPED,
        "SPUR-002": Status.SKIPPED,
        "SPUR-003": Status.PASS,
    }
    assert all(NO_PROBES in f.message for f in findings if f.status == Status.SKIPPED)


def test_the_shipped_folder_holds_no_test_policy() -> None:
    assert not (POLICIES_DIR / "quick-checks.yaml").exists()
