"""The properties of the check contract (`audit.testing`), one function each.

Each takes a registered check and tiny inputs, measures, and raises AssertionError with a
message naming the check, the input and what broke.
"""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel

from audit.checks.base import CheckOutput
from audit.plugin import CheckPlugin
from audit.records import SUBJECT_KEYS, AuditResult, CheckRun, PolicyInfo, Provenance, Verdict
from audit.testing.inputs import Inputs
from audit.testing.rows import WorkerLikeRows


def _where(plugin: CheckPlugin, inputs: Inputs) -> str:
    return f"check {plugin.name!r} on {inputs.label}"


def _config(plugin: CheckPlugin, inputs: Inputs) -> BaseModel:
    return plugin.contract_config(inputs.modality)


_MEASURED: dict[tuple[str, str], CheckOutput] = {}


def _measured(plugin: CheckPlugin, inputs: Inputs) -> CheckOutput:
    """One measurement per check and input, shared by the properties that only read it."""
    key = (plugin.name, inputs.label)
    if key not in _MEASURED:
        _MEASURED[key] = plugin.measure(inputs.context(_config(plugin, inputs)))
    return _MEASURED[key]


def _json(output: CheckOutput) -> list[dict[str, object]]:
    return [m.to_json() for m in output.metrics]


def uses_only_catalogue_names_and_keys(plugin: CheckPlugin, inputs: Inputs) -> None:
    output = _measured(plugin, inputs)
    # a check whose models the contract's tiny ones are not (circuits: Hugging Face encoders)
    # may measure nothing, but only by declaring every metric not applicable, with a reason
    wholly_not_applicable = set(output.not_applicable) == plugin.metric_names() and all(
        output.not_applicable.values()
    )
    assert output.metrics or wholly_not_applicable, f"{_where(plugin, inputs)} measured nothing"
    catalogue = {m.name: m for m in plugin.catalogue}
    for m in output.metrics:
        assert m.check == plugin.name, f"{_where(plugin, inputs)}: {m.name} says check {m.check}"
        assert m.name in catalogue, f"{_where(plugin, inputs)}: {m.name} is not in the catalogue"
        used = {k for k in SUBJECT_KEYS if getattr(m, k) is not None}
        extra = used - set(catalogue[m.name].subject)
        assert not extra, (
            f"{_where(plugin, inputs)}: {m.name} carries undeclared subject keys {sorted(extra)}"
        )


def emits_finite_values_inside_their_intervals(plugin: CheckPlugin, inputs: Inputs) -> None:
    for m in _measured(plugin, inputs).metrics:
        values = [v for v in (m.value, m.ci_low, m.ci_high) if v is not None]
        assert all(v == v and abs(v) != float("inf") for v in values), m
        if m.ci_low is not None or m.ci_high is not None:
            assert m.ci_low is not None and m.ci_high is not None, f"half an interval: {m}"
            assert m.ci_low <= m.value <= m.ci_high, (
                f"{_where(plugin, inputs)}: the interval of {m.name} ({m.subject}) "
                f"[{m.ci_low}, {m.ci_high}] does not bracket its value {m.value}"
            )


def declares_only_catalogue_names_not_applicable(plugin: CheckPlugin, inputs: Inputs) -> None:
    names = plugin.metric_names()
    unknown = set(_measured(plugin, inputs).not_applicable) - names
    assert not unknown, f"{_where(plugin, inputs)}: not-applicable names {sorted(unknown)}"


def is_deterministic_under_a_seed(plugin: CheckPlugin, inputs: Inputs) -> None:
    again = plugin.measure(inputs.context(_config(plugin, inputs)))
    assert _json(again) == _json(_measured(plugin, inputs)), (
        f"{_where(plugin, inputs)}: the same seed gave different metrics"
    )


def is_unchanged_by_sharding(plugin: CheckPlugin, inputs: Inputs) -> None:
    ctx = inputs.context(_config(plugin, inputs))
    sharded = plugin.measure(dataclasses.replace(ctx, rows=WorkerLikeRows(ctx.model, shards=3)))
    assert _json(sharded) == _json(_measured(plugin, inputs)), (
        f"{_where(plugin, inputs)}: three shards gave different metrics from one"
    )


def is_unchanged_by_probe_order(plugin: CheckPlugin, inputs: Inputs) -> None:
    """A section with a `probes` list gives the same metrics with the list reversed."""
    config = _config(plugin, inputs)
    probes = getattr(config, "probes", None)
    if not isinstance(probes, list) or len(probes) < 2:
        return
    reordered = config.model_copy(update={"probes": probes[::-1]})
    again = plugin.measure(inputs.context(reordered))

    def key(row: dict[str, object]) -> str:
        return repr(sorted(row.items()))

    assert sorted(_json(again), key=key) == sorted(_json(_measured(plugin, inputs)), key=key), (
        f"{_where(plugin, inputs)}: reversing the probes changed the metrics"
    )


def has_its_declared_evidence_type(plugin: CheckPlugin, inputs: Inputs) -> None:
    evidence = _measured(plugin, inputs).evidence
    assert isinstance(evidence, plugin.evidence_type), (
        f"{_where(plugin, inputs)}: evidence is a {type(evidence).__name__}, "
        f"not the declared {plugin.evidence_type.__name__}"
    )


def renders_its_section(plugin: CheckPlugin, inputs: Inputs) -> None:
    """The check's section renders inside a whole report, without the evidence fallback."""
    from audit.report import render_html

    output = _measured(plugin, inputs)
    result = AuditResult(
        name="contract",
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
        verdict=Verdict.PASS,
        policy=PolicyInfo("contract", "1", "0" * 64),
        provenance=Provenance("0" * 64, "0" * 64, "0" * 64, "0" * 64, 0, {}),
        metrics=output.metrics,
        findings=(),
        check_runs=(CheckRun(plugin.name, "ran"),),
        evidence={plugin.name: output.evidence},
    )
    html = render_html(result, signer="contract suite")
    assert plugin.title in html, f"{_where(plugin, inputs)}: its section is missing"
    assert "could not be drawn" not in html, (
        f"{_where(plugin, inputs)}: its section fell back to the plain table (it raised)"
    )


__all__ = [
    "declares_only_catalogue_names_not_applicable",
    "emits_finite_values_inside_their_intervals",
    "has_its_declared_evidence_type",
    "is_deterministic_under_a_seed",
    "is_unchanged_by_probe_order",
    "is_unchanged_by_sharding",
    "renders_its_section",
    "uses_only_catalogue_names_and_keys",
]
