"""Bounded parsing: the limits of audit/yamlio.py, each at its boundary, with positions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audit import yamlio
from audit.errors import PolicyError, SpecError
from audit.policy import load_policy
from audit.spec import load_spec
from audit.yamlio import YamlSyntaxError, load_json, load_json_text, load_yaml, load_yaml_text

# The classic shape: each line nine references to the previous one, 9**5 "lol"s in ~300 bytes.
BOMB = "".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
        *(
            f"{n}: &{n} [{', '.join(f'*{p}' for _ in range(9))}]\n"
            for p, n in zip("abcd", "bcde", strict=True)
        ),
    ]
)


def _nested_flow(depth: int) -> str:
    return "a: " + "[" * depth + "]" * depth + "\n"


def test_the_bomb_is_small() -> None:
    assert len(BOMB) < 320


def test_an_alias_bomb_is_refused_at_its_first_anchor() -> None:
    with pytest.raises(YamlSyntaxError, match=r"anchor `&a` refused") as info:
        load_yaml_text(BOMB)
    assert (info.value.line, info.value.col) == (1, 4)


@pytest.mark.parametrize(
    ("text", "what", "where"),
    [
        ("a: &x 1\n", "anchor `&x`", (1, 4)),
        ("a: 1\nb: *x\n", "alias `*x`", (2, 4)),
        ("base: &b {k: 1}\nc:\n  <<: *b\n", "anchor `&b`", (1, 7)),
    ],
)
def test_anchors_aliases_and_merge_keys_are_refused(text: str, what: str, where: tuple) -> None:
    with pytest.raises(YamlSyntaxError, match=re.escape(what)) as info:
        load_yaml_text(text)
    assert (info.value.line, info.value.col) == where


def test_depth_up_to_the_limit_loads_and_one_more_is_refused() -> None:
    # the top-level mapping is one level, so `a:` holds MAX_DEPTH - 1 nested lists
    inner = yamlio.MAX_DEPTH - 1
    assert load_yaml_text(_nested_flow(inner))["a"] is not None
    with pytest.raises(YamlSyntaxError, match=f"nested deeper than {yamlio.MAX_DEPTH}") as info:
        load_yaml_text(_nested_flow(inner + 1))
    assert (info.value.line, info.value.col) == (1, 4 + inner)


def test_block_nesting_counts_too() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(yamlio.MAX_DEPTH + 1)) + "  " * 70 + "v\n"
    with pytest.raises(YamlSyntaxError, match="nested deeper") as info:
        load_yaml_text(text)
    assert info.value.line == yamlio.MAX_DEPTH + 1


def test_a_file_at_the_size_cap_loads_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    head = "a: 1\n"
    path.write_bytes(head.encode() + b"#" * (yamlio.MAX_YAML_BYTES - len(head) - 1) + b"\n")
    assert load_yaml(path) == {"a": 1}
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(YamlSyntaxError, match="over the 256 KiB limit for YAML"):
        load_yaml(path)


def test_the_spec_loader_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(BOMB, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.where == f"{path}:1:4"
    assert "anchors and aliases" in info.value.message


def test_the_policy_loader_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("name: p\nversion: '1'\nrules: " + "[" * 100 + "]" * 100, encoding="utf-8")
    with pytest.raises(PolicyError, match=rf"{path}:3:\d+: nested deeper than 64"):
        load_policy(path)


def test_an_oversized_policy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"# " * yamlio.MAX_YAML_BYTES)
    with pytest.raises(PolicyError, match=rf"{path}:1:1: the file is over the 256 KiB limit"):
        load_policy(path)


def test_json_depth_limit_with_position() -> None:
    inner = '{"k": ' + "[" * yamlio.MAX_DEPTH + "]" * yamlio.MAX_DEPTH + "}"
    with pytest.raises(YamlSyntaxError, match="nested deeper") as info:
        load_json_text(inner)
    assert (info.value.line, info.value.col) == (1, 7 + yamlio.MAX_DEPTH - 1)
    assert load_json_text("[" * yamlio.MAX_DEPTH + "]" * yamlio.MAX_DEPTH) is not None


def test_json_deeper_than_the_c_parser_allows_is_our_error() -> None:
    with pytest.raises(YamlSyntaxError, match="nested deeper") as info:
        load_json_text('{"a": "[[[[ not counted", "b": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert (info.value.line, info.value.col) == (1, 31 + yamlio.MAX_DEPTH)


def test_json_syntax_errors_carry_line_and_column() -> None:
    with pytest.raises(YamlSyntaxError, match="invalid JSON") as info:
        load_json_text('{\n  "a": 1,\n  "b" 2\n}')
    assert (info.value.line, info.value.col) == (3, 7)
    assert load_json_text("null") is None


def test_an_oversized_json_file_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(yamlio, "MAX_JSON_BYTES", 1000)
    path = tmp_path / "findings.json"
    path.write_text("[" + "1," * 600 + "1]")
    with pytest.raises(YamlSyntaxError, match="over the 0 KiB limit for JSON"):
        load_json(path)
