"""The registered checks: the built-in ones, then any a package registers as an entry point.

Everything that lists checks or metrics (the spec's `checks` section, the policy's known
checks and metrics, `policies/schema.json`, the report's sections, the model card, lint's
did-you-mean) asks this module, so a check added here (or by a third-party package under the
`audit.checks` entry-point group) appears everywhere without any other edit.

A third-party package registers a check in its own `pyproject.toml`:

    [project.entry-points."audit.checks"]
    toxicity = "mypkg.audit_check:ToxicityPlugin"

The registry is read once per process; a check installed later appears in the next run.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points

from audit.errors import SpecError
from audit.plugin import CheckPlugin

ENTRY_POINT_GROUP = "audit.checks"

# Built-in checks, in report order.
_BUILTIN = (
    "audit.checks.bias:BiasPlugin",
    "audit.checks.spurious:SpuriousPlugin",
    "audit.checks.robustness:RobustnessPlugin",
    "audit.checks.identity_terms:IdentityTermsPlugin",
    "audit.checks.circuits:CircuitsPlugin",
    "audit.checks.performance:PerformancePlugin",
)

_NOT_A_PLUGIN = "entry point {0!r} of group {1!r} names {2!r}, which is not a CheckPlugin."
_DUPLICATE = "two checks are registered as {0!r}: {1} and {2}."
_BAD_NAME = "check name {0!r} (from {1}) must be a lowercase identifier."


def _load(ref: str) -> object:
    """Whatever `ref` names; `plugins` checks that it is a CheckPlugin subclass."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@functools.cache
def plugins() -> Mapping[str, CheckPlugin]:
    """Every registered check by name: built-ins first, then entry points sorted by name."""
    found: dict[str, tuple[str, CheckPlugin]] = {}
    refs = [(ref, ref) for ref in _BUILTIN]
    refs += [
        (f"{ep.name} = {ep.value}", ep.value)
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    ]
    for origin, ref in refs:
        cls = _load(ref)
        if not (isinstance(cls, type) and issubclass(cls, CheckPlugin)):
            raise SpecError(
                _NOT_A_PLUGIN.format(origin, ENTRY_POINT_GROUP, ref),
                where=f"entry point {origin}",
                fix="point the entry point at a subclass of audit.plugin.CheckPlugin.",
            )
        plugin = cls()
        if not plugin.name.isidentifier() or plugin.name != plugin.name.lower():
            raise SpecError(
                _BAD_NAME.format(plugin.name, origin),
                where=origin,
                fix="name the check like `toxicity`.",
            )
        if plugin.name in found:
            raise SpecError(
                _DUPLICATE.format(plugin.name, found[plugin.name][0], origin),
                where=origin,
                fix="uninstall one of the two packages, or rename one check.",
            )
        found[plugin.name] = (origin, plugin)
    return {name: plugin for name, (_, plugin) in found.items()}


def plugin(name: str) -> CheckPlugin:
    """The registered check called `name` (KeyError if there is none)."""
    return plugins()[name]


def check_names() -> tuple[str, ...]:
    """Registered check names, in report order."""
    return tuple(plugins())


def known_metrics() -> dict[str, frozenset[str]]:
    """Metric names each check may emit, from the catalogues."""
    return {name: p.metric_names() for name, p in plugins().items()}


__all__ = ["ENTRY_POINT_GROUP", "check_names", "known_metrics", "plugin", "plugins"]
