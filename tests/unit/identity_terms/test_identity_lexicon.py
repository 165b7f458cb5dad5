"""Matching and swapping identity terms: whole words, case kept, nothing else touched."""

from __future__ import annotations

import re

import numpy as np
import pytest

from audit.checks.identity_terms.lexicon import (
    Matcher,
    Template,
    bundled_lexicon,
    keep_case,
    read_templates,
)
from audit.errors import SpecError

RELIGION = Matcher(["christian", "muslim", "jewish"])


def test_swap_keeps_case_and_word_boundaries():
    text = "MUSLIM, muslim and Muslim's; muslimah, amuslim, muslim_x, muslim-owned. Muslim"
    out = RELIGION.swap(text, "muslim", "christian")
    assert out == (
        "CHRISTIAN, christian and Christian's; muslimah, amuslim, muslim_x, christian-owned. "
        "Christian"
    )


def test_swap_touches_only_the_source_term():
    text = "A Christian and a muslim met a jewish friend."
    assert (
        RELIGION.swap(text, "muslim", "jewish") == "A Christian and a jewish met a jewish friend."
    )
    assert RELIGION.swap(text, "hindu", "jewish") == text


def test_swapping_back_restores_every_other_character():
    """Random texts: outside the swapped spans every character is unchanged, and a swap there
    and back is the identity when the text did not already hold the target."""
    rng = np.random.default_rng(0)
    vocab = ["the", "Muslim", "MUSLIM", "muslims", "x-muslim", "café", "…", "muslim,", "day"]
    for _ in range(200):
        text = " ".join(rng.choice(vocab, rng.integers(1, 12)))
        out = RELIGION.swap(text, "muslim", "jewish")
        assert RELIGION.swap(out, "jewish", "muslim") == text
        spans = [m.span() for m in re.finditer(r"(?<!\w)muslim(?!\w)", text, re.IGNORECASE)]
        assert re.sub(r"(?<!\w)muslim(?!\w)", "", text, flags=re.IGNORECASE) == re.sub(
            r"(?<!\w)jewish(?!\w)", "", out, flags=re.IGNORECASE
        )
        assert len(re.findall(r"(?<!\w)jewish(?!\w)", out, re.IGNORECASE)) == len(spans)


def test_found_names_lexicon_terms_and_multiword_terms_match_any_whitespace():
    matcher = Matcher(["gay", "gay men", "straight"])
    assert matcher.found("Gay  men and STRAIGHT folk") == {"gay men", "straight"}
    assert matcher.found("gayety") == set()
    assert matcher.swap("gay\tmen", "gay men", "straight") == "straight"


@pytest.mark.parametrize(
    ("word", "expected"),
    [("MUSLIM", "CHRISTIAN"), ("Muslim", "Christian"), ("muslim", "christian")],
)
def test_keep_case(word, expected):
    assert keep_case(word, "christian") == expected


def test_bundled_lexicon_and_templates_ship_and_are_well_formed():
    lexicon = bundled_lexicon()
    assert {"religion", "gender", "sexual_orientation"} <= set(lexicon)
    assert all(len(terms) >= 2 for terms in lexicon.values())
    terms = [t for v in lexicon.values() for t in v]
    assert len(terms) == len(set(terms))
    templates = read_templates(None)
    labels = [t.label for t in templates]
    assert labels.count(0) >= 20 and labels.count(1) >= 20


def test_template_fill_capitalises_an_opening_term():
    assert Template("{term} people are here.", 0).fill("muslim") == "Muslim people are here."
    assert Template("I am {term}.", 0).fill("muslim") == "I am muslim."


def test_bad_template_file_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("template,label\nI am {term}.,0\nno placeholder,1\n", encoding="utf-8")
    with pytest.raises(SpecError, match="line 3") as err:
        read_templates(path)
    assert err.value.fix and "{term}" in err.value.fix
    (tmp_path / "h.csv").write_text("text,label\nx,0\n", encoding="utf-8")
    with pytest.raises(SpecError, match="columns"):
        read_templates(tmp_path / "h.csv")


def test_preflight_refuses_a_bad_template_file_before_any_model_work(tmp_path):
    from audit import registry
    from audit.checks.identity_terms.spec import IdentityTermsSpec
    from audit.testing.inputs import make_inputs

    path = tmp_path / "t.csv"
    path.write_text("template,label\nI am {term}.,2\n", encoding="utf-8")
    data = make_inputs("text", "binary").data
    with pytest.raises(SpecError, match="line 2"):
        registry.plugin("identity_terms").preflight(IdentityTermsSpec(templates=path), data)


def test_a_template_path_resolves_beside_the_spec(tmp_path):
    import yaml

    from audit.spec import load_spec

    (tmp_path / "t.csv").write_text("template,label\nI am {term}.,0\n", encoding="utf-8")
    spec = {
        "name": "s",
        "model": {"path": "model", "task": "binary"},
        "data": {"path": "d.csv", "text": "text", "label": "label"},
        "checks": {"identity_terms": {"templates": "t.csv", "terms": {"r": ["a", "b"]}}},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    section = load_spec(tmp_path / "spec.yaml").checks.section("identity_terms")
    assert section.templates == (tmp_path / "t.csv").resolve()
    assert section.terms == {"r": ["a", "b"]}
