"""YAML loading that keeps line numbers, so errors can point at `file:line:col`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError


class YamlSyntaxError(Exception):
    """Raised with a `line:col: problem` message; callers wrap it in their own error type."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None):
        self.line, self.col = line, col
        super().__init__(message)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file safely into ruamel's position-aware containers."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(f"not UTF-8 text ({exc.reason})") from exc
    return load_yaml_text(text)


def load_yaml_text(text: str) -> Any:
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(f"invalid YAML: {problem}", line, col) from exc
    except YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}") from exc


def to_plain(node: Any) -> Any:
    """Convert ruamel containers to plain dicts and lists (pydantic wants these)."""
    if isinstance(node, CommentedMap):
        return {
            str(k) if not isinstance(k, (int, float, bool)) else k: to_plain(v)
            for k, v in node.items()
        }
    if isinstance(node, CommentedSeq | list):
        return [to_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def position(root: Any, loc: Sequence[str | int]) -> tuple[int, int] | None:
    """Best-known 1-based (line, col) of the node at `loc`, or of its nearest parent."""
    node, best = root, None
    for key in loc:
        if isinstance(node, CommentedMap) and key in node:
            line, col = node.lc.key(key)
            best = (line + 1, col + 1)
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line, col = node.lc.item(key)
            best = (line + 1, col + 1)
            node = node[key]
        else:
            break
    if best is None and hasattr(root, "lc") and root.lc.line is not None:
        best = (root.lc.line + 1, root.lc.col + 1)
    return best
