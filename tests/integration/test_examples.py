"""The shipped examples run, and every file the docs, examples and code refer to exists.

Each `examples/<modality>/audit.yaml` goes through the real `audit run` (one shared Prefect
API) and must finish with a judged verdict (exit 0 or 1, never the incomplete 2) and a
report whose signature `audit verify` accepts. The reference scan reads README.md, docs/*.md,
examples/* and every string literal under audit/ and flows/ for repository paths
(`docs/...`, `examples/...`, `policies/...`, `audit/...` and the other top folders, relative
Markdown links, bare `*.md` names) and
fails on one that names no file in the repository.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from audit.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("tabular", "image", "image-files", "text")

# A path into one of the repository's folders users are pointed at.
_REPO_PATH = re.compile(
    r"(?<![\w/.<-])((?:docs|examples|policies|audit|flows|tests|bench|report_templates)/[\w.*/-]*[\w*])"
)
# A relative Markdown link target: [text](target) or [text](target#anchor).
_LINK = re.compile(r"\]\((?!https?:|#|mailto:)([^)#\s]+)(?:#[^)]*)?\)")
# A bare Markdown file name (not part of a longer path).
_BARE_MD = re.compile(r"(?<![\w/.-])([\w-]+\.md)\b")
# Names of files the product writes (not repository files), which the docs may mention.
_OUTPUTS = {"MODEL_CARD.md", "summary.md"}
# Paths that look like repository paths but name something else, each with the reason.
_NOT_FILES = {
    "policies/credit-release.yaml": "the reader's own policy, in the CI walkthrough",
    "audit/credit-default-v3": "a Prefect deployment (flow/deployment), in docs/scheduling.md",
}


@pytest.mark.slow
@pytest.mark.parametrize("modality", EXAMPLES)
def test_example_runs_and_signs(modality, prefect_server, tmp_path, capsys):
    spec = ROOT / "examples" / modality / "audit.yaml"
    out = tmp_path / "out"
    code = main(["run", str(spec), "--out", str(out)])
    output = capsys.readouterr()
    assert code in (0, 1), output.out + output.err
    findings = json.loads((out / "findings.json").read_text())
    assert findings["verdict"] == {0: "pass", 1: "fail"}[code]
    assert all(c["state"] == "ran" for c in findings["checks"]), findings["checks"]
    assert main(["verify", str(out / "report.pdf")]) == 0, capsys.readouterr()


def _strings(path: Path) -> list[str]:
    """Every string literal (docstrings included) of a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _sources() -> list[tuple[Path, str]]:
    """(file, text) of everything the scan reads."""
    out = [(ROOT / "README.md", (ROOT / "README.md").read_text(encoding="utf-8"))]
    out += [(p, p.read_text(encoding="utf-8")) for p in sorted((ROOT / "docs").glob("*.md"))]
    out += [
        (p, p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "examples").rglob("*"))
        if p.suffix in {".yaml", ".py", ".md"}
    ]
    for folder in ("audit", "flows"):
        for p in sorted((ROOT / folder).rglob("*.py")):
            out.append((p, "\n".join(_strings(p))))
    return out


def _exists(path: Path) -> bool:
    """Whether the file exists, or for a glob (`policies/*.yaml`) whether anything matches."""
    if "*" in str(path):
        return any(ROOT.glob(str(path.relative_to(ROOT))))
    return path.exists()


def references(file: Path, text: str) -> list[str]:
    """The references in `text` (read from `file`) that name no file in the repository."""
    missing = []
    for ref in _REPO_PATH.findall(text):
        if ref not in _NOT_FILES and not _exists(ROOT / ref.rstrip(".")):
            missing.append(ref)
    markdown = file.suffix == ".md"
    if markdown:
        for ref in _LINK.findall(text):
            if not _exists((file.parent / ref).resolve()):
                missing.append(ref)
    for name in _BARE_MD.findall(_LINK.sub("]()", text)):
        if name in _OUTPUTS:
            continue
        # In a document under docs/, a bare name is a sibling; elsewhere it must be at the root.
        base = file.parent if markdown and file.parent.name == "docs" else ROOT
        if not (base / name).exists():
            missing.append(name)
    return list(dict.fromkeys(missing))


def test_every_referenced_file_exists():
    broken = {
        str(file.relative_to(ROOT)): refs
        for file, text in _sources()
        if (refs := references(file, text))
    }
    assert not broken, f"references to files that are not in the repository: {broken}"


def test_the_scan_catches_a_missing_file():
    """The scan itself works: the three kinds of reference, found and judged."""
    readme = ROOT / "README.md"
    text = "see docs/nowhere.md, [x](nowhere.md) and contract.md; docs/spec.md is fine"
    assert references(readme, text) == ["docs/nowhere.md", "nowhere.md", "contract.md"]
    assert references(ROOT / "docs" / "spec.md", "[c](contract.md) and methods.md") == []


def test_the_walkthrough_shows_the_example_checks_real_code():
    """docs/architecture.md quotes the example check; every quoted block is in its files."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    walkthrough = doc[doc.index("## How to add a check") :]
    example = ROOT / "tests" / "example_check"
    sources = {
        "python": (example / "audit_example_check" / "__init__.py").read_text(encoding="utf-8"),
        "toml": (example / "README.md").read_text(encoding="utf-8"),
    }
    blocks = re.findall(r"```(python|toml)\n(.*?)```", walkthrough, flags=re.S)
    assert len(blocks) >= 5
    for lang, block in blocks:
        assert block in sources[lang], (
            f"docs/architecture.md quotes code not in the example:\n{block}"
        )
