"""Bounded loading of the YAML and JSON a user hands us, keeping line numbers for errors.

Specs, policies and findings.json come from users, so parsing them must cost time and memory
in proportion to a small file, and fail with a `line:col` message instead of exhausting the
machine (docs/security.md, "Parsing limits"):

- **Size.** A YAML file over `MAX_YAML_BYTES` (256 KiB) or a JSON file over `MAX_JSON_BYTES`
  (32 MiB) is refused before it is parsed. Files are read through a bounded `read`, so a FIFO
  or a file that grows while being read cannot get past the cap either.
- **Anchors and aliases are refused** (`&name`, `*name`, and so `<<` merge keys). A spec or a
  policy is a short hand-written file that never needs them, and refusing them is the only rule
  that keeps the parsed document as small as its text: an expansion *limit* would still let a
  few hundred bytes of nested aliases ("billion laughs") grow into a tree far larger than the
  file once `to_plain` copies every shared node for pydantic.
- **Depth.** Collections nest at most `MAX_DEPTH` levels. Real specs nest about six; the limit
  keeps the recursive composer and `to_plain` far from Python's recursion limit.

The YAML limits are enforced on ruamel's event stream, before any node is composed, so a
hostile file is stopped at the first offending event with its position.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    NodeEvent,
)

# Specs and policies are a few kB. The round-trip parser (pure Python, needed for positions)
# reads roughly 200-300 kB/s, so this cap also bounds the parse of any accepted file to about
# a second or two; it still fits a tabular spec listing ten thousand feature names.
MAX_YAML_BYTES = 256 * 1024
MAX_JSON_BYTES = 32 * 1024 * 1024  # findings.json (C parser); many groups make some MB
MAX_DEPTH = 64  # nested mappings and lists

TOO_LARGE = "the file is over the {limit} limit for {kind} input (docs/security.md, Parsing limits)"
ALIAS_REFUSED = (
    "YAML {what} `{name}` refused: anchors and aliases (&name, *name, << merges) are not "
    "accepted, so a small file cannot expand into a huge one; write the values out in full"
)
TOO_DEEP = "nested deeper than {limit} levels (the limit for specs, policies and findings)"


class YamlSyntaxError(Exception):
    """Raised with a `line:col: problem` message; callers wrap it in their own error type."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None):
        self.line, self.col = line, col
        super().__init__(message)


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


def read_bounded(path: Path, limit: int = MAX_YAML_BYTES, kind: str = "YAML") -> bytes:
    """The file's bytes, refusing more than `limit` without reading the rest."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise YamlSyntaxError(TOO_LARGE.format(limit=_mib(limit), kind=kind))
    return data


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(f"not UTF-8 text ({exc.reason})") from exc


def load_yaml(path: Path) -> Any:
    """Parse a YAML file safely and within the limits into ruamel's position-aware containers."""
    return load_yaml_text(decode(read_bounded(path)))


def _at(event: Event) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1


def _within_limits(events: Iterator[Event]) -> None:
    """Walk the event stream once, raising at the first alias, anchor or too-deep collection."""
    depth = 0
    for event in events:
        if isinstance(event, AliasEvent):
            what, name = "alias", f"*{event.anchor}"
        elif isinstance(event, NodeEvent) and event.anchor is not None:
            what, name = "anchor", f"&{event.anchor}"
        else:
            what = name = ""
        if what:
            raise YamlSyntaxError(ALIAS_REFUSED.format(what=what, name=name), *_at(event))
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlSyntaxError(TOO_DEEP.format(limit=MAX_DEPTH), *_at(event))
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def _syntax_error(exc: YAMLError) -> YamlSyntaxError:
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        return YamlSyntaxError(f"invalid YAML: {problem}", line, col)
    return YamlSyntaxError(f"invalid YAML: {exc}")


def load_yaml_text(text: str) -> Any:
    """Parse YAML text within the limits (the size cap applies to files and to `text`)."""
    if len(text) > MAX_YAML_BYTES:  # characters, at least as many bytes in UTF-8
        raise YamlSyntaxError(TOO_LARGE.format(limit=_mib(MAX_YAML_BYTES), kind="YAML"))
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        _within_limits(yaml.parse(text))
        return yaml.load(text)
    except YAMLError as exc:
        raise _syntax_error(exc) from exc


def _json_depth_position(text: str, limit: int) -> tuple[int, int] | None:
    """Where the text first nests deeper than `limit` (strings skipped), 1-based."""
    depth, line, col, in_string, escaped = 0, 1, 0, False, False
    for char in text:
        col += 1
        if char == "\n":
            line, col = line + 1, 0
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return line, col
        elif char in "]}":
            depth -= 1
    return None


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (the value may be deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
    return deepest


def load_json_text(text: str) -> Any:
    """Parse JSON within the size and depth limits; errors carry `line:col`."""
    if len(text) > MAX_JSON_BYTES:
        raise YamlSyntaxError(TOO_LARGE.format(limit=_mib(MAX_JSON_BYTES), kind="JSON"))
    try:
        value = json.loads(text)
        too_deep = _depth(value) > MAX_DEPTH
    except json.JSONDecodeError as exc:
        raise YamlSyntaxError(f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:  # deeper than the C parser allows, so deeper than the limit
        too_deep = True
    if too_deep:
        line, col = _json_depth_position(text, MAX_DEPTH) or (1, 1)
        raise YamlSyntaxError(TOO_DEEP.format(limit=MAX_DEPTH), line, col)
    return value


def load_json(path: Path) -> Any:
    """Read and parse a JSON file within the limits."""
    return load_json_text(decode(read_bounded(path, MAX_JSON_BYTES, "JSON")))


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
