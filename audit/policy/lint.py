"""`audit policy lint`: every problem in a policy file, each as `file:line:col: message`.

Beyond the schema, lint catches what the schema cannot: metric names no check emits (with a
did-you-mean), duplicate rule ids, rules no metric can satisfy together, waivers for rules that
do not exist, and expired waivers. It reads the raw YAML tree, so one run reports all of them.

Deprecated names that still load (a subject's `severity`, now `level`) are not problems: the
policy judges exactly as it would with the new name. `deprecations` lists them apart, so that
`audit policy lint` can warn about them without failing a CI job whose audits still run.
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from audit.errors import PolicyError
from audit.policy.load import NO_RULES, load_policy, parse_file
from audit.policy.model import DEPRECATED_LEVEL_KEY
from audit.records import REGRESSION_SUFFIX, SUBJECT_KEYS
from audit.registry import known_metrics
from audit.yamlio import position, to_plain

UNKNOWN_METRIC = "rule {rule}: unknown metric `{metric}` for check `{check}`. Fix: {hint}"
DUPLICATE_ID = "duplicate rule id `{rule}` (first defined on line {line}). Fix: rename one of them."
CONTRADICTION = (
    "rules {a} and {b} contradict: no `{metric}` {on} can be both {ta} and {tb}, "
    "so one always fails. Fix: loosen or remove one of them."
)
EXPIRED_WAIVER = (
    "waiver for rule {rule} expired on {expires}; it is ignored. "
    "Fix: renew it with a new expiry and approval, or remove it."
)
WAIVER_NO_RULE = "waiver names rule `{rule}`, which this policy does not define. Fix: {hint}"
DEPRECATED_LEVEL = (
    "warning: {owner}: subject key `severity` is the old name of the perturbation level, "
    "deprecated since findings.json version 2 (`severity` now means only a rule's severity); "
    "it still works. Fix: write `level: {value}`."
)
BAD_EXTENDS = "`extends`: {error}"
NOT_FOUND = "file not found. Fix: check the path."
_POSITION = re.compile(r"^(\d+):(\d+): ")


def _at(file: Path, root: Any, loc: tuple[str | int, ...], message: str) -> str:
    line, col = position(root, loc) or (1, 1)
    return f"{file}:{line}:{col}: {message}"


def _dicts(data: dict[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    items = data.get(key)
    if isinstance(items, list):
        yield from ((i, x) for i, x in enumerate(items) if isinstance(x, dict))


def _hint(name: str, choices: list[str], fallback: str) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else fallback


def _unknown_metrics(file: Path, root: Any, data: dict[str, Any]) -> list[str]:
    out = []
    catalogue = known_metrics()
    for i, rule in _dicts(data, "rules"):
        check, metric = rule.get("check"), rule.get("metric")
        if check not in catalogue or not isinstance(metric, str):
            continue
        known = sorted(catalogue[check])
        if metric.removesuffix(REGRESSION_SUFFIX) not in known:
            hint = _hint(metric, known, f"use one of: {', '.join(known)}.")
            msg = UNKNOWN_METRIC.format(rule=rule.get("id"), metric=metric, check=check, hint=hint)
            out.append(_at(file, root, ("rules", i, "metric"), msg))
    return out


def _duplicates(file: Path, root: Any, data: dict[str, Any]) -> list[str]:
    first: dict[str, int] = {}
    out = []
    for i, rule in _dicts(data, "rules"):
        rid = rule.get("id")
        if not isinstance(rid, str):
            continue
        line = (position(root, ("rules", i, "id")) or (1, 1))[0]
        if rid in first:
            msg = DUPLICATE_ID.format(rule=rid, line=first[rid])
            out.append(_at(file, root, ("rules", i, "id"), msg))
        else:
            first[rid] = line
    return out


def _interval(threshold: Any) -> tuple[float, bool, float, bool] | None:
    """The passing set of a threshold as (low, low_open, high, high_open), if well-formed."""
    if not isinstance(threshold, dict):
        return None
    op, value = threshold.get("op"), threshold.get("value")
    if not isinstance(op, str) or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    inf = math.inf
    return {
        ">=": (value, False, inf, True),
        ">": (value, True, inf, True),
        "<=": (-inf, True, value, False),
        "<": (-inf, True, value, True),
    }.get(op)


def _disjoint(a: tuple[float, bool, float, bool], b: tuple[float, bool, float, bool]) -> bool:
    """Whether two passing intervals share no point (an open end excludes its bound)."""
    low = max(a[0], b[0])
    low_open = any(is_open for v, is_open in ((a[0], a[1]), (b[0], b[1])) if v == low)
    high = min(a[2], b[2])
    high_open = any(is_open for v, is_open in ((a[2], a[3]), (b[2], b[3])) if v == high)
    return low > high or (low == high and (low_open or high_open))


def _subject(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule's or waiver's subject as written, its deprecated `severity` read as `level`."""
    given = rule.get("subject")
    subject = dict(given) if isinstance(given, dict) else {}
    if DEPRECATED_LEVEL_KEY in subject and "level" not in subject:
        subject["level"] = subject.pop(DEPRECATED_LEVEL_KEY)
    return subject


def _deprecated_levels(file: Path, root: Any, data: dict[str, Any]) -> list[str]:
    out = []
    for key in ("rules", "waivers"):
        for i, item in _dicts(data, key):
            subject = item.get("subject")
            if not isinstance(subject, dict) or DEPRECATED_LEVEL_KEY not in subject:
                continue
            rid = item.get("id" if key == "rules" else "rule")
            owner = f"rule {rid}" if key == "rules" else f"waiver for rule {rid}"
            msg = DEPRECATED_LEVEL.format(owner=owner, value=subject[DEPRECATED_LEVEL_KEY])
            out.append(_at(file, root, (key, i, "subject", DEPRECATED_LEVEL_KEY), msg))
    return out


def _contradictions(file: Path, root: Any, data: dict[str, Any]) -> list[str]:
    seen: dict[tuple[Any, ...], list[tuple[int, dict[str, Any]]]] = {}
    out = []
    for i, rule in _dicts(data, "rules"):
        subject = _subject(rule)
        key = (
            rule.get("check"),
            rule.get("metric"),
            rule.get("on", "value"),
            tuple(str(subject.get(k)) for k in SUBJECT_KEYS),
        )
        mine = _interval(rule.get("threshold"))
        for _, other in seen.get(key, []):
            theirs = _interval(other.get("threshold"))
            if mine is None or theirs is None or not _disjoint(mine, theirs):
                continue
            ta, tb = (f"{r['threshold']['op']} {r['threshold']['value']}" for r in (other, rule))
            msg = CONTRADICTION.format(
                a=other.get("id"), b=rule.get("id"), metric=key[1], on=key[2], ta=ta, tb=tb
            )
            out.append(_at(file, root, ("rules", i, "threshold"), msg))
        seen.setdefault(key, []).append((i, rule))
    return out


def _as_date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        return None


def _parent_rule_ids(file: Path, root: Any, data: dict[str, Any]) -> tuple[set[str], list[str]]:
    """Rule ids inherited through `extends`, and any problem loading it."""
    extends = data.get("extends")
    if not isinstance(extends, str):
        return set(), []
    try:
        parent = load_policy(extends, base_dir=file.parent)
    except PolicyError as exc:
        return set(), [_at(file, root, ("extends",), BAD_EXTENDS.format(error=exc))]
    return {r.id for r in parent.rules}, []


def _waivers(
    file: Path, root: Any, data: dict[str, Any], rule_ids: set[str], today: datetime.date | None
) -> list[str]:
    out = []
    for i, waiver in _dicts(data, "waivers"):
        rid = waiver.get("rule")
        if isinstance(rid, str) and rid not in rule_ids:
            hint = _hint(rid, sorted(rule_ids), "waive a rule the policy defines, or remove it.")
            msg = WAIVER_NO_RULE.format(rule=rid, hint=hint)
            out.append(_at(file, root, ("waivers", i, "rule"), msg))
        expires = _as_date(waiver.get("expires"))
        if expires is not None and today is not None and expires < today:
            msg = EXPIRED_WAIVER.format(rule=rid, expires=expires.isoformat())
            out.append(_at(file, root, ("waivers", i, "expires"), msg))
    return out


def lint(
    path: str | Path,
    *,
    today: datetime.date,
    expired_waivers: bool = True,
) -> list[str]:
    """All problems in one policy file, sorted by position; empty when the file is valid.

    `expired_waivers=False` leaves out expired waivers, which the judge ignores and reports.
    """
    file = Path(path)
    if not file.is_file():
        return [f"{file}:1:1: {NOT_FOUND}"]
    parsed = parse_file(file)
    problems = list(parsed.problems)
    data = to_plain(parsed.root) if parsed.root is not None else None
    if not isinstance(data, dict):
        return problems
    root = parsed.root
    inherited, extends_problems = _parent_rule_ids(file, root, data)
    own = {r["id"] for _, r in _dicts(data, "rules") if isinstance(r.get("id"), str)}
    problems += extends_problems
    problems += _unknown_metrics(file, root, data)
    problems += _duplicates(file, root, data)
    problems += _contradictions(file, root, data)
    problems += _waivers(file, root, data, own | inherited, today if expired_waivers else None)
    if parsed.model is not None and not own and not inherited and not extends_problems:
        problems.append(_at(file, root, ("rules",), f"{NO_RULES} Fix: add at least one rule."))
    return sorted(dict.fromkeys(problems), key=lambda line: _sort_key(line, file))


def deprecations(path: str | Path) -> list[str]:
    """The deprecated names a policy file still uses, each with its new name, by position.

    Empty for a file that cannot be read or parsed: `lint` reports those problems.
    """
    file = Path(path)
    if not file.is_file():
        return []
    parsed = parse_file(file)
    data = to_plain(parsed.root) if parsed.root is not None else None
    if not isinstance(data, dict):
        return []
    found = _deprecated_levels(file, parsed.root, data)
    return sorted(found, key=lambda line: _sort_key(line, file))


def _sort_key(line: str, file: Path) -> tuple[int, int, str]:
    match = _POSITION.match(line.removeprefix(f"{file}:"))
    return (int(match[1]), int(match[2]), line) if match else (0, 0, line)
