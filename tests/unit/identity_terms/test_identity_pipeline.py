"""End to end through `run_audit`: raw-text CSV, a tiny Hugging Face folder, the default rules.

The biased folder's score rises with `muslim` and falls with `jewish` (weights set by hand in
a real BertForSequenceClassification); the control folder is the same model without them.
The counterfactual, BPSN and BNSP rules flag the first and pass the second.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from identity_planted import NEUTRAL, TOXIC, corpus, planted_bert_folder

from audit.checks.identity_terms.lexicon import bundled_lexicon
from audit.pipeline import run_audit
from audit.records import Status

WORDS = [*NEUTRAL, *TOXIC, *dict.fromkeys(t for v in bundled_lexicon().values() for t in v)]


def _audit(root: Path, planted: dict[str, float]) -> dict[str, dict[str, str]]:
    planted_bert_folder(root / "model", WORDS, planted, TOXIC)
    texts, y = corpus(700, seed=1)
    pd.DataFrame({"text": texts, "label": y}).to_csv(root / "data.csv", index=False)
    policy = root / "policy.yaml"
    policy.write_text(
        "name: identity-only\nversion: '1'\nextends: default\n"
        "optional_checks: [bias, spurious, robustness]\n",
        encoding="utf-8",
    )
    spec = {
        "name": f"identity-{root.name}",
        "model": {"path": "model", "task": "binary"},
        "data": {"path": "data.csv", "text": "text", "label": "label"},
        "checks": {
            "bias": False,
            "spurious": False,
            "robustness": False,
            "identity_terms": {"n_boot": 200, "sample": 300},
        },
        "policy": str(policy),
        "seed": 0,
    }
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    _, published = run_audit(path, root / "out", ledger_url=f"sqlite:///{root / 'ledger.sqlite'}")
    findings = json.loads(published.findings.read_text(encoding="utf-8"))["findings"]
    out: dict[str, dict[str, str]] = {}
    for f in findings:
        if f["rule"].startswith("IDT-"):
            subject = f.get("feature", "")
            out.setdefault(f["rule"], {})[subject] = f["status"]
    return out


@pytest.mark.parametrize(
    ("planted", "flagged"),
    [({"muslim": 30.0, "jewish": -30.0}, True), ({}, False)],
    ids=["planted-bias", "control"],
)
def test_planted_identity_bias_is_flagged_and_the_control_is_not(tmp_path, planted, flagged):
    status = _audit(tmp_path / ("biased" if flagged else "control"), planted)
    expected = "fail" if flagged else "pass"
    for rule in ("IDT-001", "IDT-002", "IDT-003", "IDT-004"):
        assert status[rule]["religion"] == expected, (rule, status[rule])
    # the categories the data never mention are not judged by the AUC rules at all
    assert set(status["IDT-003"]) == {"religion"}
    # templates are scored for every category, and only religion carries the planted words
    assert status["IDT-006"]["religion"] == expected
    assert status["IDT-006"]["gender"] == "pass"


def test_a_tabular_audit_under_default_skips_every_identity_rule_with_the_reason(tmp_path):
    """Required by `default`, the check runs on a table, measures nothing and says why; its
    rules are `skipped`, never errors, so tabular verdicts are unchanged."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["y"] = (x @ [1.0, -2.0, 0.5] > 0).astype(int)
    frame["s"] = rng.choice(["f", "m"], 200)
    frame.to_csv(tmp_path / "data.csv", index=False)
    spec = {
        "name": "tabular-identity",
        "model": {"factory": "tests.tiny_models:linear", "task": "binary"},
        "data": {"path": "data.csv", "label": "y", "features": ["a", "b", "c"], "sensitive": ["s"]},
        "checks": {
            "bias": {"n_boot": 50, "intersections": False},
            "robustness": {"sample": 60, "min_flip_sample": 4, "pgd_steps": 3},
        },
        "policy": "default",
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result, _ = run_audit(path, tmp_path / "out", ledger_url=f"sqlite:///{tmp_path / 'l.sqlite'}")
    identity = [f for f in result.findings if f.rule.startswith("IDT-")]
    assert len(identity) == 6
    assert all(f.status == Status.SKIPPED and "tabular" in f.message for f in identity)
    run = next(r for r in result.check_runs if r.check == "identity_terms")
    assert run.state == "ran" and not [m for m in result.metrics if m.check == "identity_terms"]
