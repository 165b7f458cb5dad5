"""Identity terms and templates: the bundled lexicon and template set, matching and swapping.

A term matches as a whole word (no letter, digit or underscore on either side), in any case;
a multi-word term matches with any run of whitespace between its words. A swap replaces only
the matched spans, keeping their case (`MUSLIM` -> `CHRISTIAN`, `Muslim` -> `Christian`), so
no other character of the text changes.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from audit.errors import SpecError
from audit.yamlio import load_yaml

_DATA = "audit.checks.identity_terms"
PLACEHOLDER = "{term}"
MAX_TEMPLATES = 10_000


@dataclass(frozen=True)
class Template:
    """One template sentence with `{term}` and its known label (0 neutral, 1 toxic)."""

    text: str
    label: int

    def fill(self, term: str) -> str:
        """The sentence for `term`, its first letter capitalised when the term opens it."""
        out = self.text.replace(PLACEHOLDER, term)
        return out[:1].upper() + out[1:] if self.text.startswith(PLACEHOLDER) else out


def _bundled(name: str) -> Path:
    return Path(str(resources.files(_DATA).joinpath("data", name)))


def bundled_lexicon() -> dict[str, list[str]]:
    """The shipped terms per category (data/lexicon.yaml)."""
    raw = load_yaml(_bundled("lexicon.yaml"))
    return {str(k): [str(t) for t in v] for k, v in raw.items()}


def read_templates(path: Path | None) -> tuple[Template, ...]:
    """Templates from a CSV (`template`, `label`); None reads the bundled set."""
    source = _bundled("templates.csv") if path is None else path
    where = f"checks.identity_terms.templates: {source}"
    try:
        with source.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SpecError(f"could not read the templates: {exc}", where=where) from None
    if not rows or {"template", "label"} - set(rows[0]):
        raise SpecError(
            "the template file needs the columns `template` and `label` and one row or more.",
            where=where,
            fix="write a CSV header `template,label` and one template per line.",
        )
    if len(rows) > MAX_TEMPLATES:
        raise SpecError(f"more than {MAX_TEMPLATES} templates.", where=where)
    out = []
    for line, row in enumerate(rows, start=2):
        text, label = (row["template"] or "").strip(), (row["label"] or "").strip()
        if PLACEHOLDER not in text or label not in {"0", "1"}:
            raise SpecError(
                f"line {line}: a template needs `{{term}}` and a label 0 or 1 "
                f"(got {text!r}, {label!r}).",
                where=where,
                fix="put `{term}` where the identity term goes; label 1 toxic, 0 neutral.",
            )
        out.append(Template(text, int(label)))
    return tuple(out)


class Matcher:
    """Whole-word, case-insensitive matching of one category's terms."""

    def __init__(self, terms: list[str]) -> None:
        self.terms = tuple(terms)
        self._canonical = {" ".join(t.lower().split()): t for t in terms}
        alternatives = sorted(terms, key=len, reverse=True)  # longest first: "gay men" > "gay"
        body = "|".join(r"\s+".join(map(re.escape, t.split())) for t in alternatives)
        self._pattern = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)

    def found(self, text: str) -> set[str]:
        """The terms `text` mentions (as listed in the lexicon)."""
        return {self.term_of(m.group(0)) for m in self._pattern.finditer(text)}

    def term_of(self, matched: str) -> str:
        return self._canonical[" ".join(matched.lower().split())]

    def swap(self, text: str, source: str, target: str) -> str:
        """`text` with every whole-word `source` replaced by `target`, each in its case."""

        def replace(m: re.Match[str]) -> str:
            word = m.group(0)
            return keep_case(word, target) if self.term_of(word) == source else word

        return self._pattern.sub(replace, text)


def keep_case(word: str, target: str) -> str:
    """`target` in the case of `word`: upper, capitalised or as written in the lexicon."""
    letters = [c for c in word if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return target.upper()
    if letters and word[0].isupper():
        return target[:1].upper() + target[1:]
    return target


__all__ = ["PLACEHOLDER", "Matcher", "Template", "bundled_lexicon", "keep_case", "read_templates"]
