"""Same inputs and seed give the same metrics; the seed drives the bootstrap only."""

from __future__ import annotations

import numpy as np
from bias_helpers import make_context

from audit.checks.bias.check import BiasCheck


def _ctx(seed):
    rng = np.random.default_rng(11)
    n = 400
    return make_context(
        rng.integers(0, 2, n),
        rng.integers(0, 2, n),
        {"a": rng.choice(["x", "y"], n), "b": rng.choice(["p", "q", "r"], n)},
        seed=seed,
        n_boot=200,
    )


def test_same_seed_same_metrics():
    assert BiasCheck().measure(_ctx(3)).metrics == BiasCheck().measure(_ctx(3)).metrics


def test_other_seed_moves_only_bootstrap_intervals():
    one = {(m.name, m.feature, m.group): m for m in BiasCheck().measure(_ctx(3)).metrics}
    two = {(m.name, m.feature, m.group): m for m in BiasCheck().measure(_ctx(4)).metrics}
    assert one.keys() == two.keys()
    assert all(one[k].value == two[k].value for k in one)
    boot = [k for k in one if k[0] in ("demographic_parity_ratio", "impact_ratio")]
    assert any(one[k].ci_low != two[k].ci_low for k in boot)
    wilson = [k for k in one if k[0] == "selection_rate"]
    assert all(one[k].ci_low == two[k].ci_low for k in wilson)
