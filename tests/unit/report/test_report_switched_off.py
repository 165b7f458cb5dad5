"""The summary page names the checks the spec switched off, and whether the policy allowed it."""

from __future__ import annotations

import dataclasses

from audit.records import CheckRun, Status
from audit.report import render_html
from audit.report.context import summary
from tests.unit.report.fixtures import make_result

OFF = CheckRun("robustness", "skipped", "switched off in the spec")


def _with_robustness_off(status: Status):
    base = make_result()
    runs = tuple(OFF if r.check == "robustness" else r for r in base.check_runs)
    findings = tuple(
        dataclasses.replace(f, status=status, metric=None) if f.check == "robustness" else f
        for f in base.findings
    )
    return dataclasses.replace(base, check_runs=runs, findings=findings)


def test_an_allowed_switch_off_is_stated_on_the_summary_page() -> None:
    result = _with_robustness_off(Status.SKIPPED)
    line = summary(result, "the model")["switched_off"]
    assert line == (
        "Switched off in the spec, as the policy “default” version 1.0.0 allows: robustness; "
        "their rules were not judged."
    )
    page = render_html(result, signer="s")
    head = page.split('<section class="summary">', 1)[1].split("</section>", 1)[0]
    assert '<p class="switched-off">Switched off in the spec, as the policy' in head


def test_a_required_check_switched_off_says_the_audit_is_incomplete() -> None:
    line = summary(_with_robustness_off(Status.ERROR), "the model")["switched_off"]
    assert line.endswith("requires them: robustness; the audit is incomplete.")


def test_nothing_is_said_when_every_check_ran() -> None:
    assert summary(make_result(), "the model")["switched_off"] == ""
