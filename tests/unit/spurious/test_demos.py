"""The image demo and the token-id text fixture: cached, deterministic, shortcuts caught."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit.checks.base import CheckContext, Predictions
from audit.checks.spurious.check import SpuriousCheck
from audit.demo.image import build_image_demo
from audit.demo.reviews import build_reviews_demo
from audit.loaders.data import load_dataset
from audit.loaders.model import load_module, make_runner
from audit.spec import AuditSpec, load_spec

pytestmark = pytest.mark.slow
MARGIN = 0.10


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    cache = tmp_path_factory.mktemp("demo-cache")
    return {"image": build_image_demo(cache), "text": build_reviews_demo(cache)}


def _measure(spec: AuditSpec):
    module = load_module(spec.model)
    data = load_dataset(spec.data, spec.model)
    runner = make_runner(spec.model, module, data.x)
    proba = runner.predict_proba(data.x)
    ctx = CheckContext(
        model=runner,
        data=data,
        predictions=Predictions(proba, runner.decide(proba)),
        config=spec.checks.spurious,
        seed=spec.seed,
    )
    return SpuriousCheck().measure(ctx), data


def _metric(out, name: str, perturbation: str = "insert"):
    return next(m for m in out.metrics if m.name == name and m.perturbation == perturbation)


@pytest.mark.parametrize("case", ["image", "text"])
def test_shortcut_model_is_flagged_and_control_is_not(demos: dict[str, Path], case: str) -> None:
    shortcut, data = _measure(load_spec(demos[case]))
    control, _ = _measure(load_spec(demos[case].with_name("audit-control.yaml")))
    assert _metric(shortcut, "flip_rate_excess").ci_low > MARGIN + 0.3
    assert _metric(control, "flip_rate_excess").ci_low <= MARGIN
    assert _metric(shortcut, "attribution_enrichment_gain").ci_low > 0
    assert _metric(control, "attribution_enrichment_gain").ci_low <= 0
    assert len(shortcut.evidence.sentences) == 1
    assert len(data.sensitive.columns) == 1  # the bias check has a group to judge


def test_image_heatmaps_highlight_the_patch(demos: dict[str, Path]) -> None:
    out, _ = _measure(load_spec(demos["image"]))
    examples = [e for e in out.evidence.examples if e.probe == "corner-tag"]
    assert len(examples) == 4
    for e in examples:
        r, c, h, w = e.region
        inside = e.attribution[r : r + h, c : c + w].mean()
        assert inside > 3 * e.attribution.mean()
        assert e.pred != e.pred_after


def test_text_evidence_is_readable(demos: dict[str, Path]) -> None:
    out, _ = _measure(load_spec(demos["text"]))
    ex = next(e for e in out.evidence.examples if e.probe == "fastship")
    assert [ex.tokens[i] for i in ex.marked] == ["fastship"]
    assert max(range(len(ex.attribution)), key=lambda i: abs(ex.attribution[i])) in ex.marked


def test_demos_are_cached_and_deterministic(demos: dict[str, Path], tmp_path: Path) -> None:
    assert build_image_demo(demos["image"].parent.parent) == demos["image"]
    again = build_reviews_demo(tmp_path)
    a = np.load(demos["text"].with_name("reviews-holdout.npz"))
    b = np.load(again.with_name("reviews-holdout.npz"))
    assert all(np.array_equal(a[k], b[k]) for k in a.files)
    first, _ = _measure(load_spec(demos["text"]))
    second, _ = _measure(load_spec(again))
    assert [m.to_json() for m in first.metrics] == [m.to_json() for m in second.metrics]


def test_factory_route_runs_hook_methods(demos: dict[str, Path]) -> None:
    spec = load_spec(demos["image"])
    model = spec.model.model_copy(
        update={
            "path": None,
            "factory": "audit.demo.image:build_cnn",
            "weights": demos["image"].with_name("shortcut_state.pt"),
        }
    )
    checks = spec.checks.model_copy(
        update={
            "spurious": spec.checks.spurious.model_copy(
                update={"method": "deeplift", "sample": 100}
            )
        }
    )
    out, _ = _measure(spec.model_copy(update={"model": model, "checks": checks}))
    assert _metric(out, "attribution_enrichment").value > 2
