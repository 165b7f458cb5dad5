"""Tabular perturbations respect feature roles: immutable, integer, categorical, one-hot, range."""

from __future__ import annotations

import re

import numpy as np
import pytest
from pydantic import ValidationError

from audit.checks.robustness.spec import RobustnessSpec
from audit.checks.robustness.tabular import (
    _UNKNOWN_FEATURE,
    categorical_redraw,
    gaussian_noise,
    resolve_roles,
)
from audit.errors import SpecError
from audit.strict import BOTH_NAMES

NAMES = ("age", "income", "sex", "colour", "oh_a", "oh_b", "oh_c")


def _data(n: int = 500) -> np.ndarray:
    rng = np.random.default_rng(0)
    oh = np.eye(3)[rng.choice(3, n, p=[0.6, 0.3, 0.1])]
    return np.column_stack(
        [
            rng.integers(18, 90, n),
            rng.lognormal(10, 1, n),
            rng.integers(0, 2, n),
            rng.choice([2, 5, 9], n),
            oh,
        ]
    ).astype(np.float32)


def _spec(**kw) -> RobustnessSpec:
    base = {
        "immutable": ["sex"],
        "integer": ["age"],
        "categorical": ["colour"],
        "one_hot": [["oh_a", "oh_b", "oh_c"]],
    }
    return RobustnessSpec(**{**base, **kw})


def test_noise_touches_only_numeric_features_within_range_and_rounds_integers() -> None:
    x = _data()
    roles = resolve_roles(NAMES, _spec(), x)
    out = gaussian_noise(x, 0.5, roles, np.random.default_rng(1))
    np.testing.assert_array_equal(out[:, 2:], x[:, 2:])
    assert (out[:, :2] != x[:, :2]).mean() > 0.5
    assert np.all(out >= x.min(axis=0)) and np.all(out <= x.max(axis=0))
    np.testing.assert_array_equal(out[:, 0], np.rint(out[:, 0]))


def test_noise_scales_with_each_features_sigma() -> None:
    x = _data(20_000)
    roles = resolve_roles(NAMES, _spec(integer=[]), x)
    roles_wide = type(roles)(**{**roles.__dict__, "low": roles.low - 1e9, "high": roles.high + 1e9})
    delta = gaussian_noise(x, 0.1, roles_wide, np.random.default_rng(2)) - x
    np.testing.assert_allclose(delta[:, :2].std(axis=0), 0.1 * roles.sigma[:2], rtol=0.03)


def test_redraws_follow_the_marginal_and_keep_one_hot_valid() -> None:
    x = _data(20_000)
    roles = resolve_roles(NAMES, _spec(), x)
    out = categorical_redraw(x, 1.0, x, roles, np.random.default_rng(3))
    assert set(np.unique(out[:, 3])) <= {2.0, 5.0, 9.0}
    np.testing.assert_array_equal(out[:, 4:].sum(axis=1), 1.0)
    np.testing.assert_allclose(out[:, 4:].mean(axis=0), x[:, 4:].mean(axis=0), atol=0.02)
    np.testing.assert_array_equal(out[:, :3], x[:, :3])


def test_redraw_probability_is_p() -> None:
    x = _data(20_000)
    roles = resolve_roles(NAMES, _spec(one_hot=[]), x)
    out = categorical_redraw(x, 0.2, x, roles, np.random.default_rng(4))
    changed = (out[:, 3] != x[:, 3]).mean()
    # a redraw keeps the value with probability Σ q², so P(change) = p·(1 − Σ q²)
    q = np.unique(x[:, 3], return_counts=True)[1] / len(x)
    assert changed == pytest.approx(0.2 * (1 - (q**2).sum()), abs=0.015)


def test_unknown_feature_is_a_spec_error_naming_the_field() -> None:
    with pytest.raises(SpecError) as err:
        resolve_roles(NAMES, _spec(immutable=["race"]), _data(10))
    assert err.value.message == _UNKNOWN_FEATURE.format("race")
    assert err.value.where == "checks.robustness.immutable"


@pytest.mark.parametrize(
    "bad",
    [
        {"levels": [0.1, 0.05]},
        {"categorical_flip_p": [0.1, 0.2]},
        {"levels": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "categorical_flip_p": [0.1] * 6},
        {"min_flip_step": 0.6},
    ],
)
def test_spec_rejects_ungraded_settings(bad: dict) -> None:
    with pytest.raises(ValidationError):
        RobustnessSpec(**bad)


def test_spec_reads_the_deprecated_severities_as_levels() -> None:
    """`severities`, the option's name before findings.json version 2, still works; giving
    both names is refused, naming the two."""
    flips = {"categorical_flip_p": [0.1, 0.2]}
    old = RobustnessSpec.model_validate({"severities": [0.05, 0.5], **flips})
    assert old.levels == [0.05, 0.5]
    assert old == RobustnessSpec.model_validate({"levels": [0.05, 0.5], **flips})
    both = BOTH_NAMES.format(name="levels", old="severities")
    with pytest.raises(ValidationError, match=re.escape(both)):
        RobustnessSpec.model_validate({"levels": [0.05, 0.5], "severities": [0.05, 0.5], **flips})
