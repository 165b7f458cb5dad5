"""The checks run concurrently on one loaded model: ten identical runs give identical findings.

Issue #16: a factory text model got verdict `error` in 3 of 7 identical runs, because captum's
LayerIntegratedGradients (the spurious check's default for such a model) hooked the shared
module's embedding while the robustness check ran forward passes through it. Here the text and
image demo specs, switched to the `factory` + `weights` route so captum's hook methods run
(text: LayerIntegratedGradients on `tiny_models:token_mean`, the demo's weights in an
`nn.Embedding` model; image: DeepLift on the demo CNN), go ten times each through the flow's
own concurrent stage: `flows.audit_flow._measure`, the checks as Prefect tasks on the flow's
`ThreadPoolTaskRunner`. Judging and assembling follow as in the flow; rendering, signing and
the ledger are left out (they run after the checks, on one thread, and cost seconds a run).
Sizes are cut so the 20 runs take about a minute on two cores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from audit import pipeline
from audit.demo.image import build_image_demo
from audit.demo.reviews import build_reviews_demo
from audit.paths import cache_dir
from audit.spec import load_spec

pytestmark = pytest.mark.slow

RUNS = 10
_SIZES: dict[str, dict[str, Any]] = {
    "bias": {"n_boot": 50},
    "spurious": {"sample": 48, "n_boot": 50, "location_nulls": 2, "n_steps": 8, "examples": 0},
    "robustness": {"sample": 240, "min_flip_sample": 16, "pgd_steps": 3},
}
_FACTORY = {
    "text": ("tiny_models:token_mean", None),  # method: the factory-text default (LIG)
    "image": ("audit.demo.image:build_cnn", "deeplift"),
}


def _factory_spec(case: str, folder: Path) -> Path:
    """The demo's own spec, on the factory route, with the sizes above."""
    # the `.npz` demos: their models have factory twins (the image demo on files is a
    # Hugging Face folder, whose hook-free saliency method this stress would not exercise)
    builders = {"image": build_image_demo, "text": build_reviews_demo}
    demo = builders[case](cache_dir() / "demo")
    spec = yaml.safe_load(demo.read_text(encoding="utf-8"))
    factory, method = _FACTORY[case]
    spec["model"].pop("path")
    spec["model"].update(factory=factory, weights=str(demo.parent / "shortcut_state.pt"))
    spec["data"]["path"] = str(demo.parent / spec["data"]["path"])
    spurious = spec["checks"]["spurious"]
    spurious["method"] = method
    if "vocab" in spurious:
        spurious["vocab"] = str(demo.parent / spurious["vocab"])
    for check, sizes in _SIZES.items():
        spec["checks"][check] = {**(spec["checks"].get(check) or {}), **sizes}
    path = folder / f"{case}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """findings.json without what differs between identical runs: times (the run ids and
    report paths are not in it)."""
    document = json.loads(json.dumps(document))
    document.pop("audit")
    for run in document["checks"]:
        run.pop("seconds")
    return document


def _concurrent_audit(spec_path: Path) -> dict[str, Any]:
    from prefect import flow
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.audit_flow import _measure

    @flow(name="concurrency-stress", task_runner=ThreadPoolTaskRunner(max_workers=4))
    def checks_only(path: str) -> dict[str, Any]:
        loaded = pipeline.load(path)
        predictions = pipeline.predict(loaded)
        results = _measure(loaded, predictions, loaded.spec.runner)
        results += pipeline.skipped_runs(loaded.spec)
        findings, verdict = pipeline.judge_results(loaded, results)
        started = pipeline.now_iso()
        result = pipeline.assemble(loaded, results, findings, verdict, started_at=started)
        return result.findings_json()

    return checks_only(str(spec_path))


@pytest.mark.parametrize("case", ["text", "image"])
def test_ten_concurrent_runs_give_identical_findings(prefect_server, tmp_path, case) -> None:
    spec = _factory_spec(case, tmp_path)
    first = _comparable(_concurrent_audit(spec))
    errors = {c["check"]: c["message"] for c in first["checks"] if c["state"] == "error"}
    assert not errors, errors
    ran = {c["check"] for c in first["checks"] if c["state"] == "ran"}
    assert ran == set(load_spec(spec).checks.enabled())  # every check, none skipped
    for i in range(1, RUNS):
        again = _comparable(_concurrent_audit(spec))
        bad = {c["check"]: c["message"] for c in again["checks"] if c["state"] == "error"}
        assert again == first, f"run {i + 1} of {RUNS} differs from the first; errors: {bad}"
