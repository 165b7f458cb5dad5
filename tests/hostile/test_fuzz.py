"""Fuzzing the spec and policy loaders: a valid object or our own error, nothing else.

Structures are drawn both at random and as mutations of a valid document (so the fuzzer
reaches the deep validators, not only the "must be a mapping" check); they go through the
loaders as YAML text, exactly as a user's file would.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.errors import AuditError
from audit.policy import Policy, load_policy
from audit.spec import AuditSpec, load_spec, parse_spec
from audit.yamlio import YamlSyntaxError, load_json_text

# Prefect's background threads, left running by earlier in-process audits, draw from the global
# `random`. Hypothesis sees that state change while it generates an example and blames the
# strategy, which fails the test at random (seen on a clean clone). These strategies never use
# `random`: they draw only through Hypothesis.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
_FOLDER = Path(tempfile.mkdtemp(prefix="hostile-fuzz-"))
_SETTINGS = settings(
    max_examples=int(os.environ.get("HOSTILE_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KEYS = [
    "name", "model", "data", "checks", "policy", "seed", "signing", "runner", "path", "factory",
    "weights", "task", "modality", "output", "decision_threshold", "device", "label", "features",
    "sensitive", "bins", "quantiles", "edges", "bias", "spurious", "robustness", "performance",
    "probes", "type", "region", "value", "pattern", "tokens", "key", "cert", "pkcs12",
    "passphrase_env", "check_timeout", "rules", "id", "check", "metric", "threshold", "op", "warn",
    "on", "severity", "rationale", "references", "subject", "level", "levels", "waivers", "rule",
    "expires", "defaults", "extends", "version", "required_checks", "min_group_size",
    "description",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["binary", "tabular", ">=", "blocker", "../../etc/passwd", "\x00", "~", ""]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=12), st.integers(-5, 5))
structures = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=30,
)

VALID_SPEC: dict[str, Any] = {
    "name": "fuzz",
    "model": {"path": "model.pt", "task": "binary"},
    "data": {"path": "data.csv", "label": "y", "features": ["a"], "sensitive": ["s"]},
    "checks": {
        "bias": {"n_boot": 10},
        "spurious": {"probes": [{"type": "patch", "region": [0, 0, 1, 1], "value": 1.0}]},
    },
    "policy": "default",
    "signing": {"key": "k.pem", "cert": "c.pem"},
}
VALID_POLICY: dict[str, Any] = {
    "name": "fuzz",
    "version": "1.0.0",
    "description": "d",
    "defaults": {"min_group_size": 30},
    "rules": [
        {
            "id": "FAIR-001",
            "check": "bias",
            "metric": "demographic_parity_ratio",
            "subject": {"feature": "sex"},
            "threshold": {"op": ">=", "value": 0.8, "warn": 0.9},
            "severity": "blocker",
            "rationale": "r",
        }
    ],
    "waivers": [
        {"rule": "FAIR-001", "justification": "j", "approver": "a", "expires": "2999-01-01"}
    ],
}


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a document (dict keys and list indexes)."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """A valid document with a few locations replaced, deleted or given an extra key."""
    doc = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        locations = [p for p in _paths(doc) if p]
        if not locations:
            break
        where = draw(st.sampled_from(locations))
        parent = doc
        for part in where[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = draw(structures)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(structures)
    return doc


def _yaml_file(doc: Any, name: str) -> Path:
    path = _FOLDER / name
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        text = repr(doc)  # not representable: hand the loader that odd text instead
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def _spec_outcome(doc: Any) -> None:
    with contextlib.suppress(AuditError):
        assert isinstance(load_spec(_yaml_file(doc, "spec.yaml")), AuditSpec)
    with contextlib.suppress(AuditError):
        assert isinstance(parse_spec(doc, file=_FOLDER / "spec.yaml"), AuditSpec)


def _policy_outcome(doc: Any) -> None:
    with contextlib.suppress(AuditError):
        assert isinstance(load_policy(_yaml_file(doc, "policy.yaml")), Policy)


@_SETTINGS
@given(structures)
def test_spec_loader_on_random_structures(doc: Any) -> None:
    _spec_outcome(doc)


def _with(path: tuple, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID_SPEC)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


@_SETTINGS
@given(mutated(VALID_SPEC))
@example(_with(("data", "path"), "a\x00b"))  # found by hand: Path.resolve raised ValueError
@example(_with(("signing", "cert"), "\x00"))
@example(_with(("checks", "spurious", "probes", 0, "pattern"), "p\x00.npy"))
def test_spec_loader_on_mutated_valid_specs(doc: Any) -> None:
    _spec_outcome(doc)


@_SETTINGS
@given(structures)
def test_policy_loader_on_random_structures(doc: Any) -> None:
    _policy_outcome(doc)


@_SETTINGS
@given(mutated(VALID_POLICY))
def test_policy_loader_on_mutated_valid_policies(doc: Any) -> None:
    _policy_outcome(doc)


@_SETTINGS
@given(st.text(max_size=200))
def test_spec_and_policy_loaders_on_random_text(text: str) -> None:
    for name, load in (("spec.yaml", load_spec), ("policy.yaml", load_policy)):
        path = _FOLDER / name
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        with contextlib.suppress(AuditError):
            load(path)


def test_the_valid_documents_are_valid() -> None:
    """The mutation seeds must themselves load, or the mutations prove little."""
    assert isinstance(parse_spec(VALID_SPEC, file=_FOLDER / "spec.yaml"), AuditSpec)
    assert isinstance(load_policy(_yaml_file(VALID_POLICY, "valid.yaml")), Policy)


# --- bounded parsing: hostile shapes are refused with our error, never expanded ------------------

LIMITS = ("anchors and aliases", "nested deeper than", "limit for YAML input")


@st.composite
def alias_bombs(draw: st.DrawFn) -> str:
    """Billion-laughs shapes of random width and depth, anchors named at random."""
    width, levels = draw(st.integers(1, 12)), draw(st.integers(1, 8))
    names = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True),
            min_size=levels,
            max_size=levels,
            unique=True,
        )
    )
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['lol'] * width)}]"]
    for before, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join([f'*{before}'] * width)}]")
    if draw(st.booleans()):  # a merge key instead of a list of references
        lines.append(f"m:\n  <<: *{names[-1]}")
    return "\n".join(lines) + "\n"


@st.composite
def deep_nestings(draw: st.DrawFn) -> str:
    depth = draw(st.integers(65, 20_000))
    style = draw(st.sampled_from(["flow-list", "flow-map", "block-list", "unclosed"]))
    inner = {
        "flow-list": "[" * depth + "]" * depth,
        "flow-map": "{a: " * depth + "1" + "}" * depth,
        "block-list": "\n" + "- " * depth + "x",
        "unclosed": "[" * depth,
    }[style]
    return f"name: x\nmodel: {inner}\n"


def _refused_by_a_limit(path: Path, load: Any) -> None:
    with pytest.raises(AuditError) as info:
        load(path)
    assert any(limit in str(info.value) for limit in LIMITS), str(info.value)


@_SETTINGS
@given(st.one_of(alias_bombs(), deep_nestings()))
def test_hostile_yaml_is_refused_by_a_limit(text: str) -> None:
    for name, load in (("spec.yaml", load_spec), ("policy.yaml", load_policy)):
        path = _FOLDER / name
        path.write_text(text, encoding="utf-8")
        _refused_by_a_limit(path, load)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=40,
)


@_SETTINGS
@given(st.one_of(st.text(max_size=200), json_values.map(json.dumps), st.integers(0, 50_000)))
def test_json_loader_returns_a_value_or_our_error(doc: str | int) -> None:
    text = "[" * doc + "]" * doc if isinstance(doc, int) else doc
    try:
        load_json_text(text)
    except YamlSyntaxError as exc:
        assert exc.line is not None or "limit" in str(exc)
