"""Attention rollout on the image-files demo's ViT, audited end to end from the PNGs: the corner
tag holds far more of the [CLS] token's rolled-out attention for the shortcut model than for
its control, rollout adds nothing the policy judges (the verdicts stay: shortcut fail,
control pass), and the report shows the rollout maps beside the gradient maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.checks.spurious.evidence import ImageExample, SpuriousEvidence
from audit.demo import image_files
from audit.demo.image_files import build_image_files_demo
from audit.paths import cache_dir
from audit.records import AuditResult, Metric

pytestmark = pytest.mark.slow
ROLLOUT = "attention_rollout"
SPUR = ("SPUR-001", "SPUR-002")  # the flip and attribution rules the demo's tag trips


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[AuditResult, Path]]:
    from audit.pipeline import run_audit

    spec = build_image_files_demo(cache_dir() / "demo", arch="vit")  # shared with the demo tests
    out = tmp_path_factory.mktemp("audits")
    runs = {}
    for model, name in (("shortcut", "audit.yaml"), ("control", "audit-control.yaml")):
        result, published = run_audit(
            spec.with_name(name),
            out / model,
            formats=("pdf", "html"),
            ledger_url=f"sqlite:///{out / 'ledger.sqlite'}",
        )
        runs[model] = (result, published.extra["html"])
    return runs


def _evidence(result: AuditResult) -> SpuriousEvidence:
    evidence = result.evidence["spurious"]
    assert isinstance(evidence, SpuriousEvidence)
    return evidence


def _rollout(result: AuditResult, name: str, perturbation: str | None = "insert") -> Metric:
    (metric,) = [
        m
        for m in _evidence(result).supporting
        if m.name == name and m.perturbation == perturbation and m.method == ROLLOUT
    ]
    return metric


def test_the_tag_holds_more_rollout_for_the_shortcut_than_for_the_control(audited) -> None:
    shortcut, control = audited["shortcut"][0], audited["control"][0]
    e_short = _rollout(shortcut, "attribution_enrichment")
    e_control = _rollout(control, "attribution_enrichment")
    assert e_short.ci_low is not None and e_control.ci_high is not None
    assert e_short.ci_low > e_control.ci_high, (e_short, e_control)
    assert e_short.ci_low > 3.0  # the 4x4 tag (1/64 of the image) holds several times its area
    # against the same mask moved elsewhere (the location null) too
    null = _rollout(shortcut, "attribution_enrichment", "location_null")
    assert e_short.value > 3 * null.value
    # the same randomized top layers leave rollout unchanged: its sanity check says so
    for result in (shortcut, control):
        assert _rollout(result, "sanity_rank_correlation", None).value > 0.99
        assert _rollout(result, "attribution_enrichment_gain").value <= 0.0


def test_rollout_is_shown_not_judged_and_the_verdicts_stand(audited) -> None:
    verdicts = {model: result.verdict.value for model, (result, _) in audited.items()}
    assert verdicts == {"shortcut": "fail", "control": "pass"}
    for model, (result, html_path) in audited.items():
        assert all(m.method != ROLLOUT for m in result.metrics)
        assert all(f.metric is None or f.metric.method != ROLLOUT for f in result.findings), model
        spur = [(f.rule, f.status.value) for f in result.findings if f.rule in SPUR]
        assert {rule for rule, _ in spur} == set(SPUR), spur
        assert {status for _, status in spur} == {"fail" if model == "shortcut" else "pass"}, spur
        ev = _evidence(result)
        assert len(ev.rollout_examples) == len(ev.examples) > 0
        for e in ev.rollout_examples:
            assert isinstance(e, ImageExample) and e.region == image_files.REGION
        html = html_path.read_text(encoding="utf-8")
        assert "Grid of inputs beside rollout heatmaps" in html
        assert "Attention is not explanation" in html
        assert "Attention-rollout enrichment (supporting evidence)" in html
