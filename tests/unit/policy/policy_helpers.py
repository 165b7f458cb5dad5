"""Terse builders of rules and metrics for the policy tests (imported by name)."""

from __future__ import annotations

from audit.records import Metric


def rule_yaml(rid: str = "R-1", **kw: object) -> str:
    """One rule as a YAML flow mapping; keyword arguments override the defaults."""
    fields: dict[str, object] = {
        "id": rid,
        "check": "bias",
        "metric": "demographic_parity_ratio",
        "threshold": '{op: ">=", value: 0.8, warn: 0.9}',
        "severity": "blocker",
        "rationale": "test",
    }
    fields.update(kw)
    return "  - {" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}\n"


def metric(name: str = "demographic_parity_ratio", value: float = 0.95, **kw: object) -> Metric:
    fields: dict[str, object] = {"check": "bias", "feature": "sex", "n": 100}
    fields.update(kw)
    return Metric(name=name, value=value, **fields)  # type: ignore[arg-type]
