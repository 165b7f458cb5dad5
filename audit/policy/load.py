"""Find, parse and resolve policy files (`extends` chains included).

A reference is either a shipped policy's plain name (`default`, a file in the repository's
`policies/` folder) or a path. The resolved policy's `text` is the file followed by each parent
it extends, and `sha256` hashes exactly that text, so the report's appendix can be checked
against the hash: for a policy without parents it is the plain `sha256sum` of the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import audit
from audit.errors import PolicyError
from audit.policy.model import Defaults, Policy, PolicyFile, Rule, WaiverSpec
from audit.validation import describe
from audit.yamlio import YamlSyntaxError, decode, load_yaml_text, read_bounded, to_plain

POLICIES_DIR = Path(audit.__file__).resolve().parent.parent / "policies"
MAX_DEPTH = 8

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
BAD_NAME = "policy name {name!r} is not a plain name."
BAD_NAME_FIX = "use a shipped name such as `default`, or a path such as `./my-policy.yaml`."
NOT_FOUND = "policy file not found."
UNKNOWN_SHIPPED = "no shipped policy named {name!r}."
CLIMBS_OUT = "relative path {ref!r} climbs out of {base}."
CYCLE = "`extends` forms a cycle: {chain}."
TOO_DEEP = f"`extends` chain is deeper than {MAX_DEPTH} files."
NOT_A_MAPPING = "a policy must be a YAML mapping with `name`, `version` and `rules`."
NO_RULES = "the policy has no rules, so it could not fail anything."
NO_RULES_FIX = "add at least one rule; an audit must earn its pass."
PARENT_SEP = "\n# ===== extends: {ref} ({file}) =====\n"


def shipped_policies() -> list[str]:
    """Names of the policies shipped in `policies/`."""
    return sorted(p.stem for p in POLICIES_DIR.glob("*.yaml"))


def _is_path(ref: str | Path) -> bool:
    if isinstance(ref, Path):
        return True
    return "/" in ref or "\\" in ref or ref.endswith((".yaml", ".yml"))


def resolve_ref(ref: str | Path, base_dir: Path | None = None) -> Path:
    """The file a reference names. Relative paths may not climb out of `base_dir`."""
    if not _is_path(ref):
        name = str(ref)
        if not _PLAIN_NAME.fullmatch(name):
            raise PolicyError(BAD_NAME.format(name=name), fix=BAD_NAME_FIX)
        file = POLICIES_DIR / f"{name}.yaml"
        if not file.is_file():
            raise PolicyError(
                UNKNOWN_SHIPPED.format(name=name),
                fix=f"use one of: {', '.join(shipped_policies())}, or give a path.",
            )
        return file
    path = Path(ref)
    if path.is_absolute() or base_dir is None:
        file = path.resolve()
    else:
        file = (base_dir / path).resolve()
        if not file.is_relative_to(base_dir.resolve()):
            raise PolicyError(
                CLIMBS_OUT.format(ref=str(ref), base=base_dir),
                fix="keep the policy beside what refers to it, or write an absolute path.",
            )
    if not file.is_file():
        raise PolicyError(NOT_FOUND, where=str(path), fix="check the path.")
    return file


@dataclass(frozen=True)
class Parsed:
    """One file: its text, its position-aware YAML tree, and the model (None if invalid)."""

    file: Path
    text: str
    root: Any
    model: PolicyFile | None
    problems: tuple[str, ...]


def parse_file(file: Path) -> Parsed:
    """Parse and validate one file, collecting `file:line:col: message` problems."""
    try:
        text = decode(read_bounded(file))
    except YamlSyntaxError as exc:
        return Parsed(file, "", None, None, (f"{file}:1:1: {exc}.",))
    try:
        root = load_yaml_text(text)
    except YamlSyntaxError as exc:
        line, col = exc.line or 1, exc.col or 1
        return Parsed(file, text, None, None, (f"{file}:{line}:{col}: {exc}",))
    data = to_plain(root)
    if not isinstance(data, dict):
        return Parsed(file, text, root, None, (f"{file}:1:1: {NOT_A_MAPPING}",))
    try:
        model = PolicyFile.model_validate(data)
    except ValidationError as exc:
        lines = describe(exc, file=file, root=root, model=PolicyFile)
        return Parsed(file, text, root, None, tuple(_with_position(x, file) for x in lines))
    return Parsed(file, text, root, model, ())


def _with_position(line: str, file: Path) -> str:
    """Every problem names a line and column, even when the YAML tree gave none."""
    prefix = f"{file}: "
    return f"{file}:1:1: {line.removeprefix(prefix)}" if line.startswith(prefix) else line


def _parse_or_raise(file: Path) -> tuple[Parsed, PolicyFile]:
    parsed = parse_file(file)
    if parsed.model is None:
        raise PolicyError("\n".join(parsed.problems), fix=f"run `audit policy lint {file}`.")
    return parsed, parsed.model


def _chain(ref: str | Path, base_dir: Path | None) -> list[tuple[str, Parsed]]:
    """The file `ref` names, then each parent it extends, child first."""
    chain: list[tuple[str, Parsed]] = []
    seen: list[Path] = []
    while True:
        file = resolve_ref(ref, base_dir)
        if file in seen:
            names = " -> ".join(p.name for p in [*seen, file])
            raise PolicyError(CYCLE.format(chain=names), where=str(seen[0]))
        if len(seen) >= MAX_DEPTH:
            raise PolicyError(TOO_DEEP, where=str(seen[0]))
        seen.append(file)
        parsed, model = _parse_or_raise(file)
        chain.append((str(ref), parsed))
        if model.extends is None:
            return chain
        ref, base_dir = model.extends, file.parent


def _merge(chain: list[tuple[str, Parsed]]) -> tuple[PolicyFile, list[Rule], list[WaiverSpec]]:
    """Fold parents into the child: rules override by id, defaults field by field."""
    models = [p.model for _, p in chain if p.model is not None]
    rules: dict[str, Rule] = {}
    waivers: list[WaiverSpec] = []
    defaults: dict[str, Any] = {}
    required: list[str] = []
    released: list[str] = []
    for model in reversed(models):  # root parent first, child last
        for rule in model.rules:
            rules[rule.id] = rule
        waivers.extend(model.waivers)
        defaults.update({k: getattr(model.defaults, k) for k in model.defaults.model_fields_set})
        required.extend(c for c in model.required_checks if c not in required)
        # a child may release what a parent requires, but only by naming it (`optional_checks`)
        released = [c for c in released if c not in model.required_checks]
        released.extend(c for c in model.optional_checks if c in required and c not in released)
        required = [c for c in required if c not in model.optional_checks]
    child = models[0]
    merged = child.model_copy(
        update={
            "defaults": Defaults.model_validate(defaults),
            "required_checks": required,
            "optional_checks": released,
        }
    )
    return merged, list(rules.values()), waivers


def load_policy(ref: str | Path, *, base_dir: Path | None = None) -> Policy:
    """Load a policy by shipped name or path, resolving `extends`; raises `PolicyError`."""
    chain = _chain(ref, base_dir)
    merged, rules, waivers = _merge(chain)
    first = chain[0][1]
    if not rules:
        raise PolicyError(NO_RULES, where=str(first.file), fix=NO_RULES_FIX)
    text = first.text
    for parent_ref, parsed in chain[1:]:
        text += PARENT_SEP.format(ref=parent_ref, file=parsed.file.name) + parsed.text
    return Policy(
        name=merged.name,
        version=merged.version,
        description=merged.description.strip(),
        defaults=merged.defaults,
        required_checks=tuple(merged.required_checks),
        optional_checks=tuple(merged.optional_checks),
        rules=tuple(rules),
        waivers=tuple(waivers),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        text=text,
        source=str(first.file),
    )
