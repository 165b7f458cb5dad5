"""Our explainer-validity numbers agree with Quantus (0.6.0) on a small CNN, to 1e-6.

The spurious check computes its own mask localisation (`attribution_mass_ratio`,
`relevance_rank_accuracy`) and its own model-randomisation sanity check
(`sanity_rank_correlation`); docs/methods.md says why ("Explainer validity: ours checked
against Quantus"). These tests hand the SAME attribution arrays to Quantus (`a_batch`, with
`abs=True, normalise=False`, which is what ours does) and to our functions. Quantus is a dev
extra (pyproject), imported directly so that a missing install fails rather than skips.

- mask localisation: Quantus's RelevanceMassAccuracy and RelevanceRankAccuracy, averaged over
  rows, equal our `detect.enrichment` rho and rank accuracy (the values the metrics report);
- model randomisation: Quantus's MPRT randomises layers its own way (`reset_parameters` under
  `torch.manual_seed(seed + 1)`, cascading top-down), so its randomised model is not ours.
  Two comparisons cover it: (1) on Quantus's randomised models, its per-layer MPRT scores
  averaged equal our `detect.rank_correlation` of our attributions on the same models; (2) on
  OUR randomised model (`model_variant(..., "randomized", ...)`), Quantus's
  `correlation_spearman` of the identical attribution pairs, averaged, equals ours.
- a definitional difference: a row with an empty mask is NaN in Quantus and 0 in ours, and
  our mean counts it as 0. The check never feeds one (a probe's inserted artifact is never
  empty); the test asserts exactly that relationship.

Random-logit is not compared: the check has no random-logit metric.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import quantus
import torch
from quantus.functions.similarity_func import correlation_spearman
from quantus.helpers.model.pytorch_model import PyTorchModel

from audit.checks.spurious import detect
from audit.checks.spurious.attribution import MethodConfig, attribute_rows, model_variant
from audit.testing.inputs import make_inputs

TOL = 1e-6
N = 32
SEED = 7


@pytest.fixture(scope="module")
def cnn():
    """The contract suite's seeded image CNN (1x8x8 input), its first N rows and predictions."""
    inputs = make_inputs("image", "multiclass")
    x = inputs.data.x[:N].astype(np.float32)
    target = inputs.runner.decide(inputs.runner.predict_proba(x))
    cfg = MethodConfig(method="saliency", baseline=np.zeros((1, 1, 1), np.float32), seed=SEED)
    return inputs.runner, x, target.astype(np.int64), cfg


def _saliency(runner, x, target, cfg) -> np.ndarray:
    return attribute_rows(runner, x, target, cfg).values


def _masks(shape: tuple[int, ...]) -> np.ndarray:
    """A known square mask per row, of size 2..4 and at a row-dependent place."""
    rng = np.random.default_rng(0)
    n, _, h, w = shape
    mask = np.zeros(shape, dtype=bool)
    for i in range(n):
        side = int(rng.integers(2, 5))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        mask[i, 0, top : top + side, left : left + side] = True
    return mask


def _no_ties(maps: np.ndarray) -> None:
    """Rank accuracy orders positions by magnitude; ties would make the order arbitrary
    (ours sorts stably, Quantus does not), so the comparison needs tie-free maps."""
    for row in maps:
        assert np.unique(row).size == row.size


def test_mask_localisation_matches_quantus(cnn) -> None:
    runner, x, target, cfg = cnn
    attr = _saliency(runner, x, target, cfg)
    mask = _masks(x.shape)
    maps = np.abs(attr).sum(axis=1).reshape(N, -1)  # ProbeSample.maps for images
    _no_ties(maps)
    flat = mask.reshape(N, -1)
    idx = detect.boot_indices(N, 50, np.random.default_rng(SEED))
    ours = detect.enrichment(maps, flat, np.ones_like(flat), [], idx=idx, confidence=0.95)

    kwargs = dict(abs=True, normalise=False, disable_warnings=True)
    call = dict(model=None, x_batch=x, y_batch=target, a_batch=attr, s_batch=mask)
    mass = quantus.RelevanceMassAccuracy(**kwargs)(**call)
    rank = quantus.RelevanceRankAccuracy(**kwargs)(**call)

    assert np.mean(mass) == pytest.approx(ours.rho, abs=TOL)
    assert np.mean(rank) == pytest.approx(ours.rank_accuracy, abs=TOL)
    # and row by row, where ours has per-row values
    np.testing.assert_allclose(mass, detect.mass_ratio(maps, flat), atol=TOL)
    # the maps are not trivial: localisation is neither perfect nor zero
    assert 0.0 < ours.rank_accuracy < 1.0 and 0.0 < ours.rho < 1.0


def test_empty_mask_is_nan_in_quantus_and_zero_in_ours(cnn) -> None:
    runner, x, target, cfg = cnn
    attr = _saliency(runner, x[:2], target[:2], cfg)
    mask = np.zeros(attr.shape, dtype=bool)
    mask[0, 0, :2, :2] = True  # row 1 has an empty mask
    maps, flat = np.abs(attr).reshape(2, -1), mask.reshape(2, -1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):  # Quantus's 0/0 -> NaN
        warnings.filterwarnings("ignore", message="Return np.nan")
        rank = quantus.RelevanceRankAccuracy(abs=True, normalise=False, disable_warnings=True)(
            model=None, x_batch=x[:2], y_batch=target[:2], a_batch=attr, s_batch=mask
        )
    assert np.isnan(rank[1]) and not np.isnan(rank[0])
    assert detect.mass_ratio(maps, flat)[1] == 0.0
    # ours averages the empty row in as 0: the mean of [Quantus row 0, 0]
    assert detect.rank_accuracy(maps, flat) == pytest.approx(rank[0] / 2, abs=TOL)


def test_mprt_on_quantus_randomised_models_matches_our_rank_correlation(cnn) -> None:
    runner, x, target, cfg = cnn
    attr = _saliency(runner, x, target, cfg)

    def explain(model, inputs, targets, **_):
        own = dataclasses.replace(runner, module=model)
        return _saliency(own, np.asarray(inputs), np.asarray(targets), cfg)

    with torch.random.fork_rng(devices=[]):  # Quantus seeds torch's global generator
        scores = quantus.MPRT(
            layer_order="top_down",
            seed=SEED,
            abs=True,
            normalise=False,
            disable_warnings=True,
        )(
            model=runner.module,
            x_batch=x,
            y_batch=target,
            a_batch=attr,
            explain_func=explain,
            batch_size=N,
            device="cpu",
        )
        layers = PyTorchModel(runner.module, channel_first=True, device="cpu")
        ours = {}
        for name, randomised in layers.get_random_layer_generator(order="top_down", seed=SEED):
            a_r = _saliency(dataclasses.replace(runner, module=randomised), x, target, cfg)
            ours[name] = detect.rank_correlation(attr.reshape(N, -1), a_r.reshape(N, -1))

    assert list(scores) == ["original", *ours]  # head first, then conv (cascading)
    assert np.mean(scores["original"]) == pytest.approx(1.0, abs=TOL)  # same explainer
    for name, rho in ours.items():
        assert np.mean(scores[name]) == pytest.approx(rho, abs=TOL), name
    # randomising the weights really changed the maps
    assert min(ours.values()) < 0.9


def test_our_randomised_model_pairs_through_quantus_spearman(cnn) -> None:
    runner, x, target, cfg = cnn
    attr = _saliency(runner, x, target, cfg)
    randomised = model_variant(runner, "randomized", SEED, 1)
    attr_r = _saliency(randomised, x, target, cfg)
    a, b = attr.reshape(N, -1), attr_r.reshape(N, -1)

    theirs = correlation_spearman(np.abs(a), np.abs(b), batched=True)
    ours = detect.rank_correlation(a, b)

    assert np.mean(theirs) == pytest.approx(ours, abs=TOL)
    assert ours < 0.9  # the randomised model's maps differ
