"""The contract every check honours, shipped so that third-party checks can run it too.

In the spirit of scikit-learn's `parametrize_with_checks`: each registered check is measured on
tiny seeded models of every modality (tabular, image, text) and task (binary, multiclass), and
each measurement is held to the same properties:

- emitted metrics use only catalogue names, and only the subject keys the catalogue declares;
- no NaN, and every interval brackets its value;
- every metric declared not applicable is a catalogue name;
- the same seed gives identical output; one shard and three shards give identical output;
- reordering the section's probes changes nothing;
- the evidence has the check's declared type, and the section renders in the report.

Use it in a test module:

    from audit.testing import parametrize_with_checks

    @parametrize_with_checks()          # every registered check; or pass plugins
    def test_contract(case):
        case.run()
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit import registry
from audit.plugin import CheckPlugin
from audit.testing import properties
from audit.testing.inputs import MODALITIES, TASKS, Inputs, make_inputs

if TYPE_CHECKING:  # pytest is a test dependency: `audit.testing.hf` serves the text demo too
    import pytest

Property = Callable[[CheckPlugin, Inputs], None]

PROPERTIES: tuple[Property, ...] = (
    properties.uses_only_catalogue_names_and_keys,
    properties.emits_finite_values_inside_their_intervals,
    properties.declares_only_catalogue_names_not_applicable,
    properties.is_deterministic_under_a_seed,
    properties.is_unchanged_by_sharding,
    properties.is_unchanged_by_probe_order,
    properties.has_its_declared_evidence_type,
    properties.renders_its_section,
)


@functools.cache
def _inputs(modality: str, task: str) -> Inputs:
    return make_inputs(modality, task)


@dataclass(frozen=True)
class Case:
    """One property of one check on one modality and task."""

    check: str
    modality: str
    task: str
    prop: Property

    @property
    def id(self) -> str:
        return f"{self.check}-{self.modality}-{self.task}-{self.prop.__name__}"

    def run(self) -> None:
        """Raise AssertionError, naming the check and the input, if the property fails."""
        inputs = _inputs(self.modality, self.task)
        self.prop(registry.plugin(self.check), inputs)


def cases(checks: Iterable[str] | None = None) -> Iterator[Case]:
    """Every (check, modality, task, property) the contract holds a check to."""
    for check in checks if checks is not None else registry.check_names():
        plugin = registry.plugin(check)
        for modality in MODALITIES:
            if modality not in plugin.modalities:
                continue
            for task in TASKS:
                for prop in PROPERTIES:
                    yield Case(check, modality, task, prop)


def parametrize_with_checks(
    checks: Iterable[str] | None = None,
) -> pytest.MarkDecorator:
    """`pytest.mark.parametrize("case", ...)` over `cases(checks)`, with readable ids."""
    import pytest

    all_cases = list(cases(checks))
    return pytest.mark.parametrize("case", all_cases, ids=[c.id for c in all_cases])


__all__ = ["PROPERTIES", "Case", "cases", "parametrize_with_checks"]
