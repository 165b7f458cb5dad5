"""A fixed, rich synthetic `AuditResult` for the report tests: every check, every status,
every kind of evidence, and group names chosen to break naive rendering."""

from __future__ import annotations

import numpy as np

from audit.checks.bias.evidence import BiasEvidence
from audit.checks.robustness.evidence import (
    EpsilonCurve,
    Flip,
    MinFlipSearch,
    RobustnessEvidence,
)
from audit.checks.spurious.evidence import (
    FeatureShare,
    ImageExample,
    SpuriousEvidence,
    TextExample,
    WordImportance,
)
from audit.policy import load_policy
from audit.policy.crosswalk import framework_mapping
from audit.records import (
    AuditResult,
    CheckRun,
    Finding,
    FrameworkMapping,
    Metric,
    PolicyInfo,
    Provenance,
    Severity,
    Status,
    Threshold,
    Verdict,
    Waiver,
)

HTML_NAME = '<script>alert("x")</script><img src=x onerror=alert(1)>'
LATEX_NAME = r"$\frac{1}{0}$ \input{/etc/passwd} %&_#{}"
LONG_NAME = "L" * 2000
RTL_NAME = "مجموعة عربية קבוצה"
EMOJI_NAME = "👩🏽‍💻 group 🚀"
HOSTILE_NAMES = (HTML_NAME, LATEX_NAME, LONG_NAME, RTL_NAME, EMOJI_NAME)

POLICY_TEXT = """\
name: default
version: "1.0.0"
defaults: {min_group_size: 30, confidence: 0.95, multiple_comparisons: holm}
rules:
  - id: FAIR-001
    check: bias
    metric: demographic_parity_ratio
    threshold: {op: ">=", value: 0.8, warn: 0.9}
    severity: blocker
"""
SPEC_TEXT = """\
name: credit-default-v3
model: {path: models/credit.pt2, task: binary, modality: tabular}
data: {path: data/holdout.csv, label: default, sensitive: [sex, race]}
seed: 0
"""

RATES = {
    "selection_rate": 0.0,
    "true_positive_rate": 0.1,
    "false_positive_rate": -0.3,
    "false_negative_rate": -0.2,
    "precision": 0.2,
    "accuracy": 0.3,
    "expected_calibration_error": -0.38,
}


def _bias_metrics() -> list[Metric]:
    out: list[Metric] = []
    groups = {
        "sex": [("Female", 4210, 0.31), ("Male", 5790, 0.50)],
        "race": [
            ("White", 6100, 0.48),
            ("Black", 2400, 0.36),
            (HTML_NAME, 120, 0.41),
            (LATEX_NAME, 90, 0.44),
            (LONG_NAME, 45, 0.40),
            (RTL_NAME, 60, 0.39),
            (EMOJI_NAME, 12, 0.25),
        ],
        "sex*race": [("Female*White", 2600, 0.33), ("Female*Black", 1100, 0.27)],
    }
    for feature, gs in groups.items():
        top = max(rate for _, _, rate in gs)
        for group, n, rate in gs:
            half = 1.96 * (rate * (1 - rate) / n) ** 0.5
            for name, shift in RATES.items():
                value = min(max(rate + shift, 0.01), 0.99)
                out.append(
                    Metric(
                        "bias",
                        name,
                        round(value, 4),
                        feature=feature,
                        group=group,
                        n=n,
                        ci_low=round(max(value - half, 0.0), 4),
                        ci_high=round(min(value + half, 1.0), 4),
                    )
                )
            out.append(Metric("bias", "count", float(n), feature=feature, group=group, n=n))
            ratio = rate / top
            out.append(
                Metric(
                    "bias",
                    "impact_ratio",
                    round(ratio, 4),
                    feature=feature,
                    group=group,
                    n=n,
                    ci_low=round(ratio - 0.05, 4),
                    ci_high=round(min(ratio + 0.05, 1), 4),
                )
            )
    for feature, dpr, eod in (("sex", 0.62, 0.19), ("race", 0.52, 0.24), ("sex*race", 0.55, 0.2)):
        out.append(
            Metric(
                "bias",
                "demographic_parity_ratio",
                dpr,
                feature=feature,
                ci_low=dpr - 0.04,
                ci_high=dpr + 0.04,
                n=12,
            )
        )
        out.append(
            Metric(
                "bias",
                "demographic_parity_difference",
                1 - dpr - 0.2,
                feature=feature,
                ci_low=1 - dpr - 0.25,
                ci_high=1 - dpr - 0.15,
                n=12,
            )
        )
        out.append(
            Metric(
                "bias",
                "equalized_odds_difference",
                eod,
                feature=feature,
                ci_low=eod - 0.03,
                ci_high=eod + 0.03,
                n=12,
            )
        )
    out.append(
        Metric(
            "bias",
            "selection_rate",
            0.2,
            feature="sex",
            group="Female",
            method="class=2",
            n=4210,
            ci_low=0.18,
            ci_high=0.22,
        )
    )
    return out


def _robustness_metrics() -> list[Metric]:
    out = []
    for k, family in enumerate(("gaussian_noise", "blur", "jpeg")):
        for level in range(1, 6):
            acc = 0.91 - 0.04 * level * (k + 1) / 2
            out.append(
                Metric(
                    "robustness",
                    "accuracy",
                    round(acc, 4),
                    perturbation=family,
                    level=level,
                    n=2000,
                    ci_low=round(acc - 0.02, 4),
                    ci_high=round(acc + 0.02, 4),
                )
            )
            flip = 0.01 * level * (k + 1)
            out.append(
                Metric(
                    "robustness",
                    "flip_rate",
                    round(flip, 4),
                    perturbation=family,
                    level=level,
                    n=2000,
                    ci_low=round(max(flip - 0.01, 0), 4),
                    ci_high=round(flip + 0.01, 4),
                )
            )
            out.append(
                Metric(
                    "robustness",
                    "accuracy_ratio",
                    round(acc / 0.91, 4),
                    perturbation=family,
                    level=level,
                    n=2000,
                )
            )
    out.append(
        Metric(
            "robustness",
            "accuracy",
            0.41,
            perturbation="fgsm",
            method="Linf eps=0.03",
            n=500,
            ci_low=0.37,
            ci_high=0.45,
        )
    )
    out.append(Metric("robustness", "min_flip_epsilon_median", 0.072, perturbation="fgsm", n=200))
    return out


def _spurious_metrics() -> list[Metric]:
    out = []
    for probe, base in (("patch[0,0,4,4]", 0.48), ("feature:zip_code", 0.02)):
        for variant, value in (
            ("insert", base),
            ("remove", base * 0.8),
            ("location_null", 0.01),
            ("content_null", base * 0.9),
        ):
            out.append(
                Metric(
                    "spurious",
                    "flip_rate",
                    round(value, 4),
                    probe=probe,
                    perturbation=variant,
                    n=500,
                    ci_low=round(max(value - 0.04, 0), 4),
                    ci_high=round(value + 0.04, 4),
                )
            )
    out.append(
        Metric(
            "spurious",
            "enrichment",
            6.3,
            probe="patch[0,0,4,4]",
            ci_low=5.1,
            ci_high=7.4,
            n=500,
            method="IntegratedGradients",
        )
    )
    out.append(
        Metric(
            "spurious",
            "enrichment",
            0.97,
            probe="token[17,942]",
            ci_low=0.8,
            ci_high=1.15,
            n=300,
            method="Saliency",
        )
    )
    return out


def _finding(
    rule: str,
    check: str,
    metric: Metric | None,
    status: Status,
    severity: Severity,
    threshold: Threshold,
    message: str,
    **kw,
) -> Finding:
    return Finding(
        rule=rule,
        check=check,
        metric_name=metric.name if metric else kw.pop("name"),
        status=status,
        severity=severity,
        threshold=threshold,
        message=message,
        metric=metric,
        **kw,
    )


def _findings(metrics: list[Metric]) -> list[Finding]:
    def pick(name: str, **subject) -> Metric:
        return next(
            m
            for m in metrics
            if m.name == name and all(getattr(m, k) == v for k, v in subject.items())
        )

    dpr = Threshold(">=", 0.8, warn=0.9)
    return [
        _finding(
            "FAIR-001",
            "bias",
            pick("demographic_parity_ratio", feature="sex"),
            Status.FAIL,
            Severity.BLOCKER,
            dpr,
            "Women were selected at 0.62 times the rate of men (95% CI 0.58–0.66); the "
            "policy requires at least 0.80.",
            rationale="The lowest group's selection rate should be at least four fifths of "
            "the highest group's.",
            references=("29 CFR 1607.4(D)",),
        ),
        _finding(
            "FAIR-001",
            "bias",
            pick("demographic_parity_ratio", feature="race"),
            Status.WAIVED,
            Severity.BLOCKER,
            dpr,
            "Demographic parity ratio for race is 0.52.",
            waiver=Waiver(
                "FAIR-001",
                "Legacy scorecard under remediation; see ticket 1234.",
                "J. Doe",
                "2027-01-31",
                feature="race",
            ),
        ),
        _finding(
            "FAIR-002",
            "bias",
            pick("equalized_odds_difference", feature="sex"),
            Status.WARN,
            Severity.MAJOR,
            Threshold("<=", 0.25, warn=0.15),
            "Equalized odds difference for sex is 0.19, above the warning level 0.15.",
        ),
        _finding(
            "FAIR-003",
            "bias",
            pick("selection_rate", feature="race", group=EMOJI_NAME),
            Status.INSUFFICIENT_DATA,
            Severity.BLOCKER,
            Threshold(">=", 0.1),
            f"Group race={EMOJI_NAME} has 12 members, below the minimum of 30.",
        ),
        _finding(
            "FAIR-004",
            "bias",
            pick("selection_rate", feature="race", group=HTML_NAME),
            Status.PASS,
            Severity.MINOR,
            Threshold(">=", 0.1),
            f"Selection rate for {HTML_NAME} is 0.41.",
        ),
        _finding(
            "ROB-001",
            "robustness",
            pick("flip_rate", perturbation="gaussian_noise", level=2),
            Status.PASS,
            Severity.MAJOR,
            Threshold("<=", 0.05),
            "Flip rate under Gaussian noise at level 2 is 0.02, within the limit of 0.05.",
        ),
        _finding(
            "ROB-002",
            "robustness",
            pick("min_flip_epsilon_median"),
            Status.FAIL,
            Severity.MAJOR,
            Threshold(">=", 0.1),
            "Half of the inputs flip under an L∞ perturbation of 0.072 or less; the policy "
            "requires 0.1.",
        ),
        _finding(
            "SPUR-001",
            "spurious",
            pick("flip_rate", probe="patch[0,0,4,4]", perturbation="insert"),
            Status.FAIL,
            Severity.BLOCKER,
            Threshold("<=", 0.05, on="ci_low"),
            "Inserting the corner patch flips 48% of predictions against 1% for the same "
            "patch elsewhere: the model relies on the region.",
        ),
        _finding(
            "SPUR-002",
            "spurious",
            None,
            Status.ERROR,
            Severity.MAJOR,
            Threshold(">=", 1.0),
            "No attribution enrichment was measured for probe token[17,942]: the explainer "
            "failed its sanity check.",
            name="enrichment",
        ),
        _finding(
            "PERF-001",
            "performance",
            None,
            Status.SKIPPED,
            Severity.MINOR,
            Threshold(">=", 0.7),
            "The performance check was switched off in the spec.",
            name="accuracy",
        ),
    ]


# Flipped table rows (the report's tabular robustness evidence), with a long column name.
TABULAR_ROBUSTNESS = RobustnessEvidence(
    modality="tabular",
    n=500,
    epsilon_units="standard deviations of each feature",
    columns=("age", "income", "debt", LONG_NAME),
    categories={LONG_NAME: ("Never-worked", "Self-emp-not-inc")},
    flips=(
        Flip(
            "gaussian_noise",
            2,
            1,
            0,
            np.array([42.0, 51000.0, 0.31, 1.0]),
            np.array([42.0, 50210.5, 0.35, 1.0]),
        ),
        Flip(
            "categorical_flip",
            1,
            0,
            1,
            np.array([23.0, 18000.0, 0.9, 0.0]),
            np.array([23.0, 18000.0, 0.9, 1.0]),
        ),
    ),
)


def _evidence() -> dict:
    rng = np.random.default_rng(0)
    image = rng.random((1, 16, 16)).astype(np.float32)
    image[0, 0:4, 0:4] = 1.0
    attribution = rng.random((16, 16)) * 0.2
    attribution[0:4, 0:4] += 1.0
    rgb = rng.random((3, 16, 16)).astype(np.float32)
    return {
        "bias": BiasEvidence(
            sentences=(
                "Women were selected at 0.62 times the rate of men (95% CI 0.58–0.66); the "
                "policy requires at least 0.80.",
                f"The group {HTML_NAME} was selected at 0.85 times the rate of White applicants.",
            )
        ),
        "spurious": SpuriousEvidence(
            method="saliency",
            sanity_spearman=0.12,
            examples=(
                ImageExample("patch[0,0,4,4]", image, attribution, (0, 0, 4, 4), 0, 1),
                ImageExample("patch[0,0,4,4]", image[0], attribution.T, (0, 0, 4, 4), 1, 1),
                TextExample(
                    "token[17,942]",
                    ("the", "loan", "was", "<b>zz</b>", "approved", RTL_NAME),
                    (0.1, 0.4, 0.05, 0.9, -0.3, 0.2),
                    (3,),
                    0,
                    1,
                ),
                TextExample(
                    "fastship",
                    ("Great", HTML_NAME, "fastship", "&amp;", "[SEP]"),
                    (0.2, -0.5, 0.9, 0.0, -0.1),
                    (2,),
                    0,
                    1,
                    unit="word",
                ),
            ),
            local_examples=(
                TextExample("(local)", ("slow", "<i>ship</i>"), (-0.4, 0.8), (), 1, 1, unit="word"),
            ),
            word_importance=(
                WordImportance("fastship", 0.31, 0.25, 0.37, 40),
                WordImportance(HTML_NAME, 0.05, 0.01, 0.09, 12),
            ),
            importance=(
                FeatureShare("income", 0.41, 0.37, 0.45),
                FeatureShare("debt", 0.3, 0.26, 0.33),
                FeatureShare("zip_code", 0.18, 0.15, 0.21),
                FeatureShare("(shadow)", 0.06, 0.04, 0.08),
                FeatureShare("age", 0.05, 0.03, 0.07),
            ),
            sentences=(
                "The model relies on the corner region: inserting the patch flips 48% of "
                "predictions (95% CI 44–52%), the same patch elsewhere 1%.",
                "No reliance on zip_code was found: swapping it flips 2% of predictions.",
            ),
        ),
        "robustness": RobustnessEvidence(
            modality="image",
            n=500,
            epsilon_units="fractions of the data's value range",
            notes=("Robust accuracy under attack is an upper bound.",),
            levels={"gaussian_noise": (0.01, 0.05, 0.1, 0.25, 0.5)},
            epsilon_curve=EpsilonCurve(
                "Linf", (0.0, 0.01, 0.03, 0.1, 0.3), (0.91, 0.8, 0.41, 0.1, 0.0)
            ),
            flips=(
                Flip("gaussian_noise", 3, 3, 5, rgb, np.clip(rgb + 0.3, 0, 1)),
                Flip("brightness", 5, 1, 0, image, image * 0.5),
            ),
            value_range=(0.0, 1.0),
            min_flip=MinFlipSearch(n=100, not_flipped=4, search_max=1.0, search_step=0.01),
            attack_radius={"Linf": 0.1, "L2": 0.5},
        ),
        "history": {  # the shape `audit.ledger.drift` records
            "changed": [
                {
                    "check": "bias",
                    "metric": "demographic_parity_ratio",
                    "subject": "sex",
                    "previous": 0.71,
                    "previous_ci": [0.68, 0.74],
                    "current": 0.62,
                    "current_ci": [0.59, 0.65],
                    "change": -0.09,
                }
            ],
            "new_failures": [
                {
                    "rule": "FAIR-001",
                    "check": "bias",
                    "metric": "demographic_parity_ratio",
                    "subject": "sex",
                    "status": "fail",
                    "severity": "blocker",
                    "value": 0.62,
                }
            ],
            "fixed": [
                {
                    "rule": "ROB-003",
                    "check": "robustness",
                    "metric": "flip_rate",
                    "subject": "jpeg@5",
                    "status": "fail",
                    "severity": "major",
                    "value": 0.2,
                }
            ],
            "not_measured": [],
            "waived": [],
        },
    }


def _mapping(findings: list[Finding]) -> FrameworkMapping:
    """The crosswalk of the shipped strict pack's rules that the fixture's findings name (so
    rules other packs add later leave the golden file alone)."""
    named = {f.rule for f in findings}
    rules = [r for r in load_policy("release-gate-strict").rules if r.id in named]
    return framework_mapping(rules, findings)


def make_result(**overrides) -> AuditResult:
    """The fixed fixture; keyword overrides replace top-level fields."""
    metrics = _bias_metrics() + _robustness_metrics() + _spurious_metrics()
    findings = _findings(metrics)
    fields = {
        "name": "credit-default-v3",
        "started_at": "2026-11-02T09:15:00+00:00",
        "finished_at": "2026-11-02T09:17:42+00:00",
        "verdict": Verdict.FAIL,
        "policy": PolicyInfo("default", "1.0.0", "ab" * 32, POLICY_TEXT),
        "provenance": Provenance(
            model_sha256="1f" * 32,
            data_sha256="2e" * 32,
            spec_sha256="3d" * 32,
            policy_sha256="ab" * 32,
            seed=0,
            versions={
                "torch": "2.13.0",
                "captum": "0.9.0",
                "fairlearn": "0.15.0",
                "audit": "0.1.0",
            },
        ),
        "metrics": tuple(metrics),
        "findings": tuple(findings),
        "check_runs": (
            CheckRun("bias", "ran", seconds=3.2),
            CheckRun("spurious", "ran", seconds=41.0),
            CheckRun("robustness", "ran", seconds=12.5),
            CheckRun(
                "performance",
                "error",
                "RuntimeError: model returned NaN on batch 3 <b>not bold</b>",
                0.4,
            ),
        ),
        "spec_text": SPEC_TEXT,
        "model_info": {
            "name": "Credit default scorer",
            "version": "3.1.0",
            "format": "torch.export",
            "task": "binary",
        },
        "data_info": {"rows": 10000, "path": "data/holdout.csv", "sensitive": "sex, race"},
        "evidence": _evidence(),
        "framework_mapping": _mapping(findings),
    }
    fields.update(overrides)
    return AuditResult(**fields)
