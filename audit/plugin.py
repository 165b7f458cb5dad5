"""The check plugin boundary: everything the rest of the audit needs to know about a check.

A check is one self-describing unit in its own folder (`audit/checks/<name>/`). Its package
exposes a `CheckPlugin` subclass that declares, as data:

- `name` and `title`;
- `spec_model`, the pydantic model of its `checks.<name>` section of the audit spec;
- `catalogue`, one `MetricInfo` per metric it can emit (name, subject keys, unit, direction,
  meaning), from which policy validation, lint's did-you-mean, the policy JSON Schema and the
  model card are derived;
- `methodology` and `limits`, the report's text on what it measures and what it cannot tell;

and implements `measure` (the work, imported lazily so that reading a spec or linting a
policy never imports torch) and `section` (its part of the report, built from neutral view
types in `audit.presentation`). The registry (`audit.registry`) finds built-in checks and
third-party ones registered under the `audit.checks` entry-point group.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel

from audit.records import SUBJECT_KEYS, Finding, Metric

if TYPE_CHECKING:  # the plugin boundary is declared without importing the heavy parts
    from audit.checks.base import CheckContext, CheckOutput
    from audit.loaders.data import Dataset
    from audit.presentation.view import CheckSection, SectionInput
    from audit.spec import AuditSpec

Better = Literal["higher", "lower", "neither"]

# Resolves a relative path from a spec field against the spec's folder (see `audit.spec`).
PathResolver = Callable[[Path, str], Path]


@dataclass(frozen=True)
class DataHeader:
    """What preflight learnt of the data without reading its rows (None: not known)."""

    columns: tuple[str, ...] | None = None  # tabular: the file's column names
    x_shape: tuple[int, ...] | None = None  # .npz: the shape of `x` from its header


@dataclass(frozen=True)
class MetricInfo:
    """One entry of a check's metric catalogue: what a metric is, as data."""

    name: str
    subject: tuple[str, ...]  # the subject keys this metric carries (a subset of SUBJECT_KEYS)
    unit: str  # "rate", "ratio", "difference", "count", "p-value", ... (shown in the model card)
    better: Better  # which direction is better, for plots and plain-language sentences
    meaning: str  # one line, for the model card and lint's suggestions

    def __post_init__(self) -> None:
        unknown = set(self.subject) - set(SUBJECT_KEYS)
        if unknown:
            raise ValueError(f"metric {self.name!r}: unknown subject keys {sorted(unknown)}")


class CheckPlugin(ABC):
    """A check, declared. Subclasses set the class attributes and implement `measure`."""

    name: ClassVar[str]
    title: ClassVar[str]
    spec_model: ClassVar[type[BaseModel]]
    catalogue: ClassVar[tuple[MetricInfo, ...]]
    methodology: ClassVar[str]
    limits: ClassVar[str]  # may use {min_group_size} and {confidence_pct}
    headline: ClassVar[tuple[str, ...]] = ()  # metric names the model card summarises
    evidence_type: ClassVar[type] = type(None)  # what `measure` hands its section
    modalities: ClassVar[frozenset[str]] = frozenset({"tabular", "image", "text"})

    @abstractmethod
    def measure(self, ctx: CheckContext) -> CheckOutput:
        """Measure the model; never judge it (thresholds live in policy files)."""

    def prepare(self) -> None:
        """Import what `measure` imports lazily, before the checks run concurrently.

        Python's per-module import locks break a cross-thread cycle by handing one thread a
        partially initialised module: two checks importing captum's `attr` and `robust` at
        once failed with "cannot import name ... from partially initialized module". The
        pipeline calls this for every enabled check, one after the other, before any runs.
        The default imports the plugin package's `check` module (the folder convention of
        docs/architecture.md) when it has one; override it when `measure` imports elsewhere.
        """
        package = sys.modules[type(self).__module__].__package__
        if package and importlib.util.find_spec(f"{package}.check") is not None:
            importlib.import_module(f"{package}.check")

    def section(self, inputs: SectionInput) -> CheckSection:
        """This check's part of the report. The default lists every measurement."""
        from audit.presentation.view import CheckSection, metrics_table

        section = CheckSection(self.name, self.title)
        if inputs.metrics:
            section.tables.append(metrics_table(inputs.metrics, f"{self.title} measurements"))
        return section

    def resolve_paths(self, config: BaseModel, resolve: PathResolver) -> BaseModel:
        """Resolve any file paths in this check's spec section (default: it has none)."""
        return config

    def configure(self, config: BaseModel, spec: AuditSpec) -> BaseModel:
        """The section as `measure` receives it, given the whole spec (default: unchanged)."""
        return config

    def preflight_spec(self, config: BaseModel, spec: AuditSpec, header: DataHeader) -> None:
        """Cross-check this section against the spec and the data's header before anything
        is loaded or any server starts (`audit.preflight`; default: nothing to check)."""
        return None

    def preflight(self, config: BaseModel, data: Dataset) -> None:
        """Cross-check this section against the loaded data before any model work, raising a
        `SpecError`/`DataError` for a mistake that would otherwise surface only as an `error`
        report after the checks ran (default: nothing to cross-check)."""
        return None

    def plain_sentence(
        self, finding: Finding, metrics: Sequence[Metric], confidence_pct: str
    ) -> str | None:
        """This check's own wording of a finding for reviewers (the summary's "What needs
        attention"), given all the audit's metrics; None: the generic sentence built from the
        metric catalogue (`audit.presentation.plain`)."""
        return None

    def contract_config(self, modality: str) -> BaseModel:
        """A small, fast section for the contract suite's tiny models (`audit.testing`).
        Checks with probes return at least two, so that probe order is tested too."""
        return self.spec_model()

    def metric_names(self) -> frozenset[str]:
        return frozenset(m.name for m in self.catalogue)


__all__ = ["Better", "CheckPlugin", "DataHeader", "MetricInfo", "PathResolver"]
