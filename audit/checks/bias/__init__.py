"""Bias: fairlearn group metrics, parity differences and ratios, intersections, intervals.

The plugin declares the check; the work is in `check.py`, imported only when it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from audit.checks.bias.evidence import BiasEvidence
from audit.checks.bias.spec import BiasSpec
from audit.errors import DataError
from audit.plugin import Better, CheckPlugin, MetricInfo
from audit.records import Finding, Metric

if TYPE_CHECKING:
    from audit.checks.base import CheckContext, CheckOutput
    from audit.loaders.data import Dataset
    from audit.presentation.view import CheckSection, SectionInput
    from audit.spec import AuditSpec

# `method` names the class of a multiclass one-vs-rest metric.
_GROUP = ("feature", "group", "method")
_ONE_GROUP = "sensitive column {0!r} holds a single group ({1!r}); fairness needs two or more."
_ONE_GROUP_FIX = (
    "check that the data is not a filtered extract, or drop the column from `data.sensitive`."
)


def _rate(name: str, better: Better, meaning: str) -> MetricInfo:
    return MetricInfo(name, _GROUP, "rate", better, meaning)


class BiasPlugin(CheckPlugin):
    """Fairness across groups: fairlearn's rates and aggregates with honest intervals."""

    name = "bias"
    title = "Bias and fairness"
    spec_model = BiasSpec
    catalogue = (
        _rate("selection_rate", "neither", "share of the group predicted positive"),
        _rate("true_positive_rate", "higher", "share of the group's positives predicted positive"),
        _rate("false_positive_rate", "lower", "share of the group's negatives predicted positive"),
        _rate("false_negative_rate", "lower", "share of the group's positives predicted negative"),
        _rate("precision", "higher", "share of the group's positive predictions that are right"),
        _rate("accuracy", "higher", "share of the group's predictions that are right"),
        MetricInfo("count", _GROUP, "count", "neither", "number of rows in the group"),
        MetricInfo(
            "unknown_count",
            ("feature",),
            "count",
            "neither",
            "rows with no recorded value of the feature (NYC LL144's unknown category)",
        ),
        MetricInfo(
            "excluded_share",
            ("feature", "group"),
            "share",
            "neither",
            "share of the rows of a group the policy's `small_groups` left out of the aggregates",
        ),
        MetricInfo(
            "impact_ratio",
            _GROUP,
            "ratio",
            "higher",
            "the group's selection rate over the most-selected group's (four-fifths rule)",
        ),
        MetricInfo(
            "expected_calibration_error",
            _GROUP,
            "probability",
            "lower",
            "mean gap between confidence and accuracy within the group",
        ),
        MetricInfo(
            "demographic_parity_difference",
            ("feature", "method"),
            "difference",
            "lower",
            "largest minus smallest selection rate across the feature's groups",
        ),
        MetricInfo(
            "demographic_parity_ratio",
            ("feature", "method"),
            "ratio",
            "higher",
            "smallest over largest selection rate across the feature's groups",
        ),
        MetricInfo(
            "equalized_odds_difference",
            ("feature", "method"),
            "difference",
            "lower",
            "the larger of the TPR and FPR gaps across the feature's groups",
        ),
        MetricInfo(
            "equalized_odds_ratio",
            ("feature", "method"),
            "ratio",
            "higher",
            "the smaller of the TPR and FPR ratios across the feature's groups",
        ),
        MetricInfo(
            "equal_opportunity_difference",
            ("feature", "method"),
            "difference",
            "lower",
            "largest minus smallest true-positive rate across the feature's groups",
        ),
        MetricInfo(
            "minimum_detectable_difference",
            ("feature", "method"),
            "difference",
            "lower",
            "smallest selection-rate gap between the two smallest groups found with power 0.8",
        ),
    )
    headline = (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
        "equal_opportunity_difference",
    )
    methodology = (
        "Group metrics follow fairlearn's definitions: selection rate, true- and false-positive "
        "rates, false-negative rate, precision and accuracy per group, for each sensitive "
        "feature and every intersection of them; missing values form their own group. Rates "
        "carry Wilson intervals; differences and ratios carry bootstrap intervals over per-group "
        "confusion counts. Impact ratios divide each group's selection rate by the most-selected "
        "group's (EEOC four-fifths rule; NYC Local Law 144 layout)."
    )
    limits = (
        "Groups smaller than the minimum group size ({min_group_size}) are reported as "
        "insufficient data, never as passing, and so is every aggregate over their feature "
        "(unless the policy's `small_groups` excludes groups under a share of the rows; those "
        "are listed with their counts and rates). Group metrics describe this dataset only; "
        "they do not prove or rule out discrimination in deployment, and parity on one metric "
        "can coexist with disparity on another."
    )

    evidence_type = BiasEvidence

    def contract_config(self, modality: str) -> BaseModel:
        return BiasSpec(n_boot=50)

    def measure(self, ctx: CheckContext) -> CheckOutput:
        from audit.checks.bias.check import BiasCheck

        return BiasCheck().measure(ctx)

    def configure(self, config: BaseModel, spec: AuditSpec) -> BaseModel:
        """`data.bins` applies to the bias check too; its own `bins` win on a clash."""
        assert isinstance(config, BiasSpec)
        return config.model_copy(update={"bins": {**spec.data.bins, **config.bins}})

    def preflight(self, config: BaseModel, data: Dataset) -> None:
        """A sensitive column with a single group cannot show a disparity: say so up front."""
        from audit.checks.bias._groups import partition

        assert isinstance(config, BiasSpec)
        if not data.sensitive.shape[1]:
            return
        groups = partition(
            data.sensitive, bins=config.bins, intersections=False, max_groups=config.max_groups
        )
        for feature in groups.features:
            if len(feature.labels) < 2:
                label = feature.labels[0] if feature.labels else ""
                raise DataError(
                    _ONE_GROUP.format(feature.name, label),
                    where=f"data.sensitive: {feature.name}",
                    fix=_ONE_GROUP_FIX,
                )

    def section(self, inputs: SectionInput) -> CheckSection:
        from audit.checks.bias.section import section

        return section(self, inputs)

    def plain_sentence(
        self, finding: Finding, metrics: Sequence[Metric], confidence_pct: str
    ) -> str | None:
        """Parity and impact ratios in words, naming the groups compared."""
        from audit.checks.bias._sentences import plain_ratio

        return plain_ratio(finding, metrics, confidence_pct)


__all__ = ["BiasPlugin", "BiasSpec"]
