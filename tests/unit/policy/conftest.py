"""Fixtures for policy tests: write small policy files into a temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from audit.policy import Policy, load_policy

HEADER = """\
name: {name}
version: "1.0.0"
extends: {extends}
defaults: {{min_group_size: 30, multiple_comparisons: {mc}}}
required_checks: {required}
"""


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[..., Path]:
    def write(
        rules: str,
        *,
        name: str = "p",
        extends: str = "null",
        required: str = "[]",
        waivers: str = "[]",
        file: str | None = None,
        multiple_comparisons: str = "holm",
    ) -> Path:
        text = HEADER.format(name=name, extends=extends, required=required, mc=multiple_comparisons)
        text += "rules:\n" + rules if rules else "rules: []\n"
        text += "waivers: " + (
            waivers if waivers.startswith("[") else "\n" + textwrap.indent(waivers, "  ")
        )
        path = tmp_path / (file or f"{name}.yaml")
        path.write_text(text + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_policy(write_policy: Callable[..., Path]) -> Callable[..., Policy]:
    def make(rules: str, **kw: str) -> Policy:
        return load_policy(write_policy(rules, **kw))

    return make
