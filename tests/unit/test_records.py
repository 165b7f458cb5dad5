"""Records crossing stage boundaries stay JSON-ready and finite."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from audit.records import Metric


def test_numpy_scalars_become_plain_numbers():
    m = Metric(
        "bias",
        "selection_rate",
        np.float32(0.25),
        ci_low=np.array(0.2),
        ci_high=np.float64(0.3),
        n=np.int64(40),
        severity=np.int8(2),
    )
    assert type(m.value) is float and type(m.ci_low) is float and type(m.n) is int
    assert json.loads(json.dumps(m.to_json()))["n"] == 40


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(bad):
    with pytest.raises(ValueError, match="not finite"):
        Metric("bias", "selection_rate", bad)
