"""Groups: intersections, explicit missing values, numeric binning, and refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bias_helpers import find, make_context

from audit.binning import Binning
from audit.checks.bias._groups import MISSING, partition
from audit.checks.bias.check import BiasCheck
from audit.errors import DataError, SpecError


def _counts(metrics, feature):
    return {m.group: int(m.value) for m in metrics if m.name == "count" and m.feature == feature}


def test_intersections_cover_every_cross():
    sex = ["F", "F", "M", "M", "M", "F"]
    race = ["a", "b", "a", "a", "b", "a"]
    ctx = make_context([0, 1, 0, 1, 1, 0], [0, 1, 1, 1, 0, 0], {"sex": sex, "race": race})
    metrics = BiasCheck().measure(ctx).metrics
    assert _counts(metrics, "sex") == {"F": 3, "M": 3}
    assert _counts(metrics, "race") == {"a": 4, "b": 2}
    assert _counts(metrics, "sex*race") == {"F*a": 2, "F*b": 1, "M*a": 2, "M*b": 1}
    # group M*a: y = [0, 1], pred = [1, 1]
    assert find(metrics, "selection_rate", "sex*race", "M*a").value == 1.0
    assert find(metrics, "false_positive_rate", "sex*race", "M*a").value == 1.0


def test_three_features_give_pairs_and_the_triple():
    frame = pd.DataFrame({"a": [0, 1, 0], "b": ["x", "y", "y"], "c": [True, True, False]})
    part = partition(frame, bins={}, intersections=True, max_groups=10)
    assert [s.name for s in part.scopes] == ["a", "b", "c", "a*b", "a*c", "b*c", "a*b*c"]
    assert partition(frame, bins={}, intersections=False, max_groups=10).scopes[-1].name == "c"


def test_missing_values_form_an_explicit_group():
    race = ["a", None, "b", np.nan, "a", "b"]
    ctx = make_context([0, 1, 0, 1, 1, 0], [0, 1, 1, 1, 0, 0], {"race": race})
    out = BiasCheck().measure(ctx)
    assert _counts(out.metrics, "race") == {"a": 2, "b": 2, MISSING: 2}
    assert find(out.metrics, "true_positive_rate", "race", MISSING).value == 1.0
    assert "2 rows have no recorded race; they are kept as the group '(missing)'." in (
        out.evidence.sentences
    )


def test_numeric_missing_values_and_integer_labels():
    frame = pd.DataFrame({"grade": [1.0, 2.0, np.nan, 1.0]})
    feature = partition(frame, bins={}, intersections=True, max_groups=10).features[0]
    assert feature.labels == ("1", "2", MISSING)
    assert feature.codes.tolist() == [0, 1, 2, 0]
    assert feature.missing == 1


def test_explicit_edges_keep_out_of_range_values():
    frame = pd.DataFrame({"age": [10, 18, 30, 64, 65, 90, np.nan]})
    part = partition(
        frame, bins={"age": Binning(edges=[18, 65])}, intersections=True, max_groups=10
    )
    feature = part.features[0]
    assert feature.labels == ("< 18", "[18, 65)", ">= 65", MISSING)
    assert feature.codes.tolist() == [0, 1, 1, 1, 2, 2, 3]


def test_quantile_bins_are_balanced():
    frame = pd.DataFrame({"income": np.arange(100.0)})
    feature = partition(
        frame, bins={"income": Binning(quantiles=4)}, intersections=True, max_groups=10
    ).features[0]
    assert np.bincount(feature.codes).tolist() == [25, 25, 25, 25]
    assert feature.labels[0].startswith("[0, ") and feature.labels[-1].endswith(", 99]")


def test_unbinned_numeric_with_many_values_is_refused():
    frame = pd.DataFrame({"age": np.arange(80)})
    with pytest.raises(DataError, match="more than max_groups=50") as info:
        partition(frame, bins={}, intersections=True, max_groups=50)
    assert "data.bins.age" in info.value.fix


def test_binning_a_text_column_is_refused():
    frame = pd.DataFrame({"sex": ["F", "M"]})
    with pytest.raises(DataError, match="not numeric"):
        partition(frame, bins={"sex": Binning(quantiles=2)}, intersections=True, max_groups=10)


def test_literal_missing_label_clash_is_refused():
    frame = pd.DataFrame({"race": [MISSING, None, "a"]})
    with pytest.raises(DataError, match="literal value"):
        partition(frame, bins={}, intersections=True, max_groups=10)


def test_bins_for_unknown_column_are_refused():
    ctx = make_context([0, 1], [0, 1], {"sex": ["F", "M"]}, bins={"age": {"quantiles": 2}})
    with pytest.raises(SpecError, match="'age', which is not a sensitive column"):
        BiasCheck().measure(ctx)


def test_no_sensitive_columns_gives_no_metrics_and_says_so():
    ctx = make_context([0, 1], [0, 1], {})
    out = BiasCheck().measure(ctx)
    assert out.metrics == ()
    assert out.evidence.sentences == (
        "No sensitive features were given, so no groups could be compared.",
    )


def test_length_mismatch_is_a_data_error():
    ctx = make_context([0, 1, 1], [0, 1, 1], {"sex": ["F", "M", "F"]})
    bad = ctx.data.__class__(
        x=ctx.data.x, y=ctx.data.y[:2], sensitive=ctx.data.sensitive, modality="tabular"
    )
    with pytest.raises(DataError, match="differ in length"):
        BiasCheck().measure(ctx.__class__(**{**ctx.__dict__, "data": bad}))


def test_many_wide_features_do_not_overflow_the_group_key():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"c{i}": rng.integers(0, 50, 300) for i in range(12)})  # 50**12 > 2**62
    part = partition(frame, bins={}, intersections=False, max_groups=50)
    combos = frame.drop_duplicates()
    assert part.n_fine == len(combos)
    for feature, scope in zip(part.features, part.scopes, strict=True):
        assert np.array_equal(scope.fine_to_group[part.fine], feature.codes)


def test_too_fine_an_intersection_is_left_out_and_reported():
    rng = np.random.default_rng(1)
    n = 400
    sensitive = {"a": rng.integers(0, 20, n), "b": rng.integers(0, 20, n)}
    ctx = make_context(
        rng.integers(0, 2, n), rng.integers(0, 2, n), sensitive, max_intersection_groups=100
    )
    out = BiasCheck().measure(ctx)
    assert {m.feature for m in out.metrics} == {"a", "b"}
    groups = len(pd.DataFrame(sensitive).drop_duplicates())
    assert (
        f"The intersection a*b splits the rows into {groups:,} groups, more than "
        "max_intersection_groups=100, so it was not measured."
    ) in out.evidence.sentences
