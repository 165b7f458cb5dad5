"""`docs/spec.md` is the spec reference generated from the spec models, and it is current."""

from __future__ import annotations

from pathlib import Path

from audit import registry
from audit.spec import AuditSpec
from audit.spec_reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"
REGENERATE = "docs/spec.md is out of date: run `make docs` (python -m audit.spec_reference)"


def test_docs_spec_is_current():
    # Only the built-in checks are registered in the test process, so a check a developer
    # installed locally cannot make the shipped reference look stale.
    assert set(registry.check_names()) == {
        "bias",
        "spurious",
        "robustness",
        "identity_terms",
        "circuits",
        "performance",
    }
    assert DOC.read_text(encoding="utf-8") == render(), REGENERATE


def _fields(model, seen):
    """Every (model, field) reachable from `model`."""
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        yield model, name, info
        stack = [info.annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and hasattr(t, "model_fields"):
                yield from _fields(t, seen)
            stack += list(getattr(t, "__args__", ()) or ())
            stack += list(getattr(t, "__metadata__", ()) or ())


def test_every_spec_field_is_described_and_listed():
    text = render()
    fields = list(_fields(AuditSpec, set()))
    assert len(fields) > 60  # the whole tree, checks and probes included
    undescribed = [f"{m.__name__}.{n}" for m, n, info in fields if not info.description]
    assert not undescribed, f"add Field(description=...) to: {undescribed}"
    for model, name, _ in fields:
        assert f"## {model.__name__}" in text
        assert f"| `{name}` |" in text


def test_each_check_section_names_its_check_and_paths():
    text = render()
    for plugin in registry.plugins().values():
        assert (
            f"Where: `checks.{plugin.name}`. The options of the **{plugin.title}** check." in text
        )
    assert "Where: `data.bins.<name>`, `checks.bias.bins.<name>`." in text
    assert text.count("Where: `checks.spurious.probes[]`.") == 3  # feature, patch, token
    assert "Where: `checks.spurious.probes[]`, `checks.circuits.probes[]`." in text  # phrase


def test_types_defaults_and_constraints_render():
    text = render()
    assert '| `task` | `"binary"` \\| `"multiclass"` | required | — |' in text
    assert "| `n_boot` | int | `1000` | ≥ 0; ≤ 100000 |" in text
    assert "| `region` | list of int \\| `null` | `null` | length = 4 |" in text
    assert "| `bias` | [BiasSpec](#biasspec) \\| `false` | its defaults |" in text
