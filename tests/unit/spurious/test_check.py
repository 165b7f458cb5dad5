"""The spurious check end to end on tiny tabular, image and text models."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from audit.checks.spurious.check import SpuriousCheck
from audit.checks.spurious.evidence import ImageExample, TabularExample, TextExample
from audit.errors import SpecError
from audit.testing.rows import WorkerLikeRows

_FEATURE_PROBE = [{"type": "feature", "feature": "tag"}]
_FAST = {"sample": 200, "n_boot": 200}


def _by(metrics, name, **subject):
    return [
        m for m in metrics if m.name == name and all(getattr(m, k) == v for k, v in subject.items())
    ]


def _run(tiny, shortcut: bool, seed: int = 0, **config):
    x, y = tiny.tabular_task(seed, shortcut)
    ctx = tiny.context(
        tiny.logistic(x, y), x, y, names=tiny.names, seed=seed, **{**_FAST, **config}
    )
    return SpuriousCheck().measure(ctx)


def test_contract_attributes() -> None:
    from audit.registry import plugin

    assert plugin("spurious").title == "Spurious features"
    assert SpuriousCheck.__doc__


def test_planted_tabular_shortcut_is_measured_and_its_control_is_not(tiny) -> None:
    flagged = _run(tiny, True, probes=_FEATURE_PROBE, method="integrated_gradients")
    clean = _run(tiny, False, probes=_FEATURE_PROBE, method="integrated_gradients")
    swap = _by(flagged.metrics, "flip_rate_excess", perturbation="swap")[0]
    assert swap.ci_low > 0.5
    assert _by(clean.metrics, "flip_rate_excess", perturbation="swap")[0].ci_low < 0.1
    share = _by(flagged.metrics, "attribution_share", feature="tag", probe="tag")[0]
    shadow = _by(flagged.metrics, "attribution_share", feature="(shadow)", probe="tag")[0]
    assert share.ci_low > shadow.ci_high
    assert _by(flagged.metrics, "attribution_share_p")[0].value < 0.01
    assert _by(flagged.metrics, "shadow_share_excess")[0].ci_low > 0.1


def test_metrics_are_finite_and_attributed_to_the_check(tiny) -> None:
    out = _run(tiny, True, probes=_FEATURE_PROBE)
    for m in out.metrics:
        assert m.check == "spurious"
        assert math.isfinite(m.value)
        if m.ci_low is not None:
            assert m.ci_low <= m.value + 1e-9 <= m.ci_high + 2e-9 or m.name.endswith("_gain")


def test_same_seed_same_metrics(tiny) -> None:
    a = _run(tiny, True, probes=_FEATURE_PROBE)
    b = _run(tiny, True, probes=_FEATURE_PROBE)
    assert [m.to_json() for m in a.metrics] == [m.to_json() for m in b.metrics]


def _probe_metrics(output, probe: str) -> list[dict]:
    # Holm-adjusted p-values are a property of the whole family of probes, not of one probe.
    return [
        m.to_json() for m in output.metrics if m.probe == probe and not m.name.endswith("_holm")
    ]


def test_a_second_probe_leaves_the_first_probes_metrics_identical(tiny) -> None:
    """Each probe draws from its own stream keyed by its name (audit.streams)."""
    second = {"type": "feature", "feature": "weak"}
    alone = _run(tiny, True, probes=_FEATURE_PROBE)
    both = _run(tiny, True, probes=[second, *_FEATURE_PROBE])
    assert _probe_metrics(alone, "tag"), "the probe measured nothing"
    assert _probe_metrics(alone, "tag") == _probe_metrics(both, "tag")


def test_without_probes_reports_importance_with_a_shadow(tiny) -> None:
    out = _run(tiny, True)
    assert _by(out.metrics, "probes_declared")[0].value == 0
    assert not _by(out.metrics, "flip_rate")
    features = {row.feature for row in out.evidence.importance}
    assert features == {*tiny.names, "(shadow)"}
    shadow = next(r for r in out.evidence.importance if r.feature == "(shadow)")
    assert shadow.share == 0.0  # the wrapped model provably ignores it
    assert len(out.evidence.sentences) == 1


def test_proxy_auc_sees_a_column_predicted_by_the_others(tiny) -> None:
    out = _run(tiny, True, probes=_FEATURE_PROBE)
    assert _by(out.metrics, "proxy_auc")[0].value > 0.8  # the tag is the label, which x0 predicts


def test_a_probe_of_the_wrong_modality_is_a_spec_error(tiny) -> None:
    with pytest.raises(SpecError) as err:
        _run(tiny, True, probes=[{"type": "patch", "region": [0, 0, 1, 1], "value": 1.0}])
    assert "does not apply to a tabular model" in err.value.message


def _image_task(seed: int, shortcut: bool, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """6x6 images: the label is the brightness of the centre; with `shortcut`, a bright
    corner patch marks class 1 and the centre is noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.5, (n, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 2, n)
    x[:, 0, 2:4, 2:4] += np.where(y, 0.4, 0.0)[:, None, None] * (not shortcut)
    tagged = y == 1 if shortcut else rng.random(n) < 0.5
    x[tagged, :, :2, :2] = 1.0
    return x, y


def _image_run(tiny, shortcut: bool, seed: int = 0, **config):
    x, y = _image_task(seed, shortcut)
    probe = [{"type": "patch", "region": [0, 0, 2, 2], "value": 1.0, "name": "tag"}]
    ctx = tiny.context(
        tiny.logistic(x, y), x, y, modality="image", seed=seed, probes=probe, **{**_FAST, **config}
    )
    return SpuriousCheck().measure(ctx)


def test_image_probe_reports_both_nulls_and_the_evidence_format(tiny) -> None:
    out = _image_run(tiny, True, method="saliency")
    perts = {m.perturbation for m in _by(out.metrics, "flip_rate")}
    assert {"insert", "location_null", "content_null", "remove", "remove_location_null"} <= perts
    assert _by(out.metrics, "flip_rate_excess", perturbation="insert")[0].ci_low > 0.3
    assert _by(out.metrics, "mcnemar_p_holm")
    assert _by(out.metrics, "spurious_score_excess", perturbation="insert")[0].ci_low > 0.3
    ex = next(e for e in out.evidence.examples if e.probe == "tag")
    assert isinstance(ex, ImageExample) and ex.image.shape == (1, 6, 6)
    assert ex.attribution.shape == (6, 6) and ex.region == (0, 0, 2, 2)
    # the artifact beat the location null (the same patch elsewhere): it relies on the region
    assert "relies on the region" in out.evidence.sentences[0]


def test_image_control_is_not_flagged(tiny) -> None:
    out = _image_run(tiny, False, method="saliency")
    assert _by(out.metrics, "flip_rate_excess", perturbation="insert")[0].ci_low < 0.1


class _Bag(nn.Module):
    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(weights), 1, padding_idx=0)
        with torch.no_grad():
            self.embed.weight.copy_(weights[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x).sum(dim=1)
        return torch.cat([-z, z], dim=1)


def test_text_probe_with_layer_attributions(tiny) -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((120, 10), dtype=np.int64)
    x[:, :6] = rng.integers(2, 12, (120, 6))
    weights = torch.zeros(12)
    weights[1] = 5.0  # token 1 is a shortcut to class 1
    weights[2:] = torch.linspace(-0.3, 0.3, 10)
    module = _Bag(weights)
    y = (x[:, :6] >= 7).sum(axis=1) > 3
    ctx = tiny.context(
        module,
        x,
        y.astype(np.int64),
        modality="text",
        probes=[{"type": "token", "tokens": [1]}],
        **_FAST,
    )
    out = SpuriousCheck().measure(ctx)
    assert _by(out.metrics, "spurious_score", perturbation="insert")[0].ci_low > 0.9
    assert _by(out.metrics, "spurious_score", perturbation="content_null")[0].ci_high < 0.5
    assert _by(out.metrics, "flip_rate_excess", perturbation="insert")[0].ci_low > 0.1
    assert _by(out.metrics, "attribution_enrichment", perturbation="insert")[0].ci_low > 2
    ex = next(e for e in out.evidence.examples if e.probe == "tokens:1")
    assert isinstance(ex, TextExample) and ex.tokens[ex.marked[0]] == "1"
    assert len(ex.tokens) == len(ex.attribution)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["integrated_gradients", "noise_tunnel"])
def test_sharded_work_gives_the_same_metrics(tiny, method: str) -> None:
    """Attributions and probe predictions spread over worker-like shards change nothing,
    including a method that draws random noise (seeded per batch, not per call)."""
    x, y = tiny.tabular_task(0, True)
    config = {"probes": _FEATURE_PROBE, "method": method, "batch_size": 2, "n_steps": 4, **_FAST}
    ctx = tiny.context(tiny.logistic(x, y), x, y, names=tiny.names, **config)
    whole = SpuriousCheck().measure(ctx)
    rows = WorkerLikeRows(ctx.model, shards=3)
    sharded = SpuriousCheck().measure(dataclasses.replace(ctx, rows=rows))
    assert {fn for fn, n in rows.calls if n == 3} >= {
        "audit.checks.spurious.attribution:attribute_slice",
        "audit.checks.rows:predict_slice",
    }
    assert [m.to_json() for m in whole.metrics] == [m.to_json() for m in sharded.metrics]


def test_absent_probe_metrics_are_declared_not_applicable(tiny) -> None:
    """Without probes, rules on probe metrics are skipped by the policy, not errors."""
    from audit.checks.spurious.check import NO_PROBES

    unprobed = _run(tiny, True)
    assert unprobed.not_applicable["flip_rate_excess"] == NO_PROBES
    assert unprobed.not_applicable["attribution_enrichment"] == NO_PROBES
    probed = _run(tiny, True, probes=_FEATURE_PROBE)
    assert "flip_rate_excess" not in probed.not_applicable
    assert "attribution_enrichment" in probed.not_applicable  # image and text only
    emitted = {m.name for m in probed.metrics}
    assert not emitted & set(probed.not_applicable)


def test_tabular_local_explanations_show_labels_and_the_most_confident_mistakes(tiny) -> None:
    """Rows a reviewer can read: coded values as their labels, the label beside the
    prediction, the most confident mistakes first."""
    x, y = tiny.tabular_task(0, False)
    ctx = tiny.context(tiny.logistic(x, y), x, y, names=tiny.names, **_FAST, examples=3)
    ctx = dataclasses.replace(
        ctx, data=dataclasses.replace(ctx.data, categories={"tag": ("absent", "present")})
    )
    local = SpuriousCheck().measure(ctx).evidence.local_examples
    assert len(local) == 3 and all(isinstance(e, TabularExample) for e in local)
    assert all(e.pred != e.label for e in local)  # the model makes mistakes here
    confidences = [e.confidence for e in local]
    assert confidences == sorted(confidences, reverse=True)
    assert {e.values[2] for e in local} <= {"absent", "present"}
    assert all(len(e.attribution) == len(tiny.names) for e in local)
