"""Read an audit back from what it left behind: `findings.json`, or the PDF that embeds it.

Reading does not verify: run `audit verify` on a PDF before trusting what it says.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from audit.errors import ReportError
from audit.records import AuditResult, UnreadableSchema, first_error
from audit.yamlio import YamlSyntaxError, decode, load_json_text

NOT_FINDINGS = "this is not a findings.json document (missing key {key!r})."
NO_ATTACHMENT = "the PDF has no embedded {name}."


def pdf_attachments(pdf: bytes, *, where: str = "PDF") -> dict[str, bytes]:
    """The embedded files of a PDF, by name (a flat EmbeddedFiles name tree, as we write it)."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        # Subscripts, not .get(): only they resolve pyHanko's indirect objects.
        names = reader.root["/Names"] if "/Names" in reader.root else {}  # noqa: SIM401
        tree = names["/EmbeddedFiles"] if "/EmbeddedFiles" in names else {}  # noqa: SIM401
        flat = list(tree["/Names"]) if "/Names" in tree else []
        return {
            str(flat[i]): flat[i + 1].get_object()["/EF"]["/F"].data
            for i in range(0, len(flat) - 1, 2)
        }
    except (PdfError, KeyError, TypeError, ValueError) as exc:
        raise ReportError(
            f"cannot read the PDF: {exc}",
            where=where,
            fix="pass a report PDF written by `audit run`.",
        ) from None


def result_from_findings(
    data: Mapping[str, Any], *, spec_text: str = "", where: str = "findings.json"
) -> AuditResult:
    """Rebuild the `AuditResult` that `AuditResult.findings_json()` wrote (evidence is not kept)."""
    fix = "pass the findings.json written by `audit run`."
    try:
        return AuditResult.from_findings_json(data, spec_text=spec_text)
    except KeyError as exc:
        raise ReportError(NOT_FINDINGS.format(key=exc.args[0]), where=where, fix=fix) from None
    except UnreadableSchema as exc:
        fix = "read it with the audit version its provenance.versions names."
        raise ReportError(str(exc), where=where, fix=fix) from None
    except ValidationError as exc:
        top = [e["loc"] for e in exc.errors() if e["type"] == "missing" and len(e["loc"]) == 1]
        missing = [loc[0] for loc in top]
        if missing:
            raise ReportError(NOT_FINDINGS.format(key=missing[0]), where=where, fix=fix) from None
        raise ReportError(f"malformed findings: {first_error(exc)}", where=where, fix=fix) from None
    except (TypeError, ValueError) as exc:  # a version-1 document's shape, read before validation
        raise ReportError(f"malformed findings: {exc}", where=where, fix=fix) from None


def load_result(path: Path, *, spec: Path | None = None) -> AuditResult:
    """Load from a findings.json or a report PDF (its embedded findings.json, spec.yaml and
    policy.yaml: findings.json names the policy and its hash, the PDF also carries its text)."""
    try:
        raw = path.read_bytes()
        policy_text = ""
        spec_text = spec.read_text(encoding="utf-8") if spec is not None else ""
    except OSError as exc:
        raise ReportError(
            f"cannot read: {exc.strerror}.", where=str(exc.filename or path), fix="check the path."
        ) from None
    if raw.startswith(b"%PDF"):
        files = pdf_attachments(raw, where=str(path))
        if "findings.json" not in files:
            raise ReportError(NO_ATTACHMENT.format(name="findings.json"), where=str(path))
        raw = files["findings.json"]
        if not spec_text and "spec.yaml" in files:
            spec_text = files["spec.yaml"].decode("utf-8", errors="replace")
        policy_text = files.get("policy.yaml", b"").decode("utf-8", errors="replace")
    try:
        data = load_json_text(decode(raw))
    except YamlSyntaxError as exc:
        raise ReportError(
            f"not valid JSON: {exc}",
            where=str(path),
            fix="pass the findings.json written by `audit run`.",
        ) from None
    if not isinstance(data, dict):
        raise ReportError(NOT_FINDINGS.format(key="verdict"), where=str(path))
    result = result_from_findings(data, spec_text=spec_text, where=str(path))
    return replace(result, policy=replace(result.policy, text=policy_text))
