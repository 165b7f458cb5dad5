"""Turn pydantic validation errors into sentences a person can act on.

Every line has one format: `FILE:LINE:COL: field `a.b`: what is wrong. Fix: what to do.`
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from audit.yamlio import position


def _field(loc: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _known_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """Field names allowed at `loc`'s parent, for did-you-mean suggestions."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        ann = fields[part].annotation
        current = next(
            (a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), ann
        )
        args = getattr(current, "__args__", None)
        if args:
            current = next((a for a in args if hasattr(a, "model_fields")), current)
    return list(getattr(current, "model_fields", {}))


def _without_tags(root: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop the tags pydantic inserts into the location of a discriminated union's member
    (`probes.0.patch.region` -> `probes.0.region`): a part that is the `type` of the mapping
    the path has reached, and not one of that mapping's keys."""
    out: list[str | int] = []
    node = root
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue
        out.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(out)


def describe(exc: ValidationError, *, file: Path, root: Any, model: type[BaseModel]) -> list[str]:
    """One message per problem, pointing at file, line and field."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        loc = _without_tags(root, loc)
        pos = position(root, loc)
        where = f"{file}:{pos[0]}:{pos[1]}" if pos else str(file)
        kind, msg = err["type"], err["msg"]
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(str(loc[-1]), _known_keys(model, loc), n=1)
            hint = f"did you mean `{close[0]}`?" if close else "remove it."
            text = f"unknown key `{loc[-1]}` in `{_field(loc[:-1])}`. Fix: {hint}"
        elif kind == "missing":
            text = f"field `{_field(loc)}` is required but missing. Fix: add it."
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
            if len(shown) > 80:
                shown = shown[:77] + "..."
            msg = msg.removeprefix("Value error, ")
            text = f"field `{_field(loc)}`: {msg}; got {shown}. Fix: correct the value."
        lines.append(f"{where}: {text}")
    return lines
