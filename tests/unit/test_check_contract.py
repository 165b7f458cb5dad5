"""The shipped contract suite (`audit.testing`) over every registered check, on every modality
and task: tabular, image and text; binary and multiclass."""

from __future__ import annotations

import ast
from pathlib import Path

from audit.testing import parametrize_with_checks


@parametrize_with_checks()
def test_contract(case) -> None:
    case.run()


def test_measures_but_never_judges():
    """No check module imports the policy, the report, signing or the flows."""
    root = Path(__file__).resolve().parents[2] / "audit" / "checks"
    forbidden = ("audit.policy", "audit.report", "audit.signing", "flows")
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert not n.startswith(forbidden), f"{path} imports {n}"
