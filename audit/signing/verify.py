"""Verify a signed report: every signature, what changed between them, trust, and content.

`valid` means: the audit signature is cryptographically intact, its container is canonical and
consistent (see `strict`), the signed revision embeds a findings.json whose verdict and model
hash equal the audit keywords written into the document's metadata, and its cover prints that
verdict; after it, at most the reviewer's form fill and signature were appended (what the
certification permits, judged by pyHanko's difference analysis); each reviewer signature is
intact; and after the last signature nothing but long-term-archival data (DSS, document
timestamps). Anything else is `valid=False` with a reason in `problems`.
Trust (`--trust`, `--trust-reviewer`) is reported separately, because a self-signed key proves
integrity, not identity.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader as TextReader

from audit.errors import VerificationError
from audit.records import VERDICT_TEXT, Verdict
from audit.signing import strict
from audit.signing.review import (
    DATE_FIELD,
    NAME_FIELD,
    NOTES_FIELD,
    ROLE_FIELD,
    SIGNATURE_FIELD,
    decision_of,
    form_values,
)
from audit.yamlio import YamlSyntaxError, decode, load_json_text

FINDINGS_NAME = "findings.json"
_HEADER_WINDOW = 1024  # PDF readers accept the %PDF- header within the first kilobyte
_KEYWORD = re.compile(r"([a-z0-9-]+)=([^;,\s]+)")
# Fields pyHanko rewrites on every incremental write, including legitimate archival updates.
_ACCEPTED_COVERAGE = {SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION}
_VOLATILE_INFO = {"/ModDate", "/Producer"}
_VOLATILE_XMP = re.compile(rb'(?:xmp:ModifyDate|xmp:MetadataDate|pdf:Producer)(?:="[^"]*"|>[^<]*<)')

UNREADABLE = "cannot read the file: {0}."
NOT_A_PDF = "not a PDF file (no %PDF- header)."
BAD_TRUST = "not a PEM or DER certificate."
DAMAGED = "the PDF structure is damaged ({0}); it was modified or corrupted."
NOT_SIGNED = "the document carries no signature."
NOT_INTACT = "the signed bytes were modified after signing (digest mismatch)."
BAD_SIGNATURE = "the signature value is cryptographically invalid."
CONTAINER_CHANGED = "the signature container was modified (bytes the signature does not cover)."
MODIFIED_LATER = "content was changed by an update appended after signing ({0})."
MODIFIED_AFTER_REVIEW = "content was changed after the reviewer signed ({0})."
NOT_PERMITTED = "the changes after the audit signature are not what it permits ({0})."
REVIEW_NOT_INTACT = "the reviewer signature does not match the bytes it signed."
REVIEW_BAD_SIGNATURE = "the reviewer signature value is cryptographically invalid."
REVIEW_WRONG_FIELD = "a signature in field {0!r}; reviewers sign in " + repr(SIGNATURE_FIELD) + "."
REVIEWER_UNTRUSTED = "the reviewer does not chain to the trusted certificate {0}."
PARTIAL_COVERAGE = "the signature does not cover the document ({0})."
BAD_TIMESTAMP = "the signature timestamp is invalid."
UNTRUSTED = "the signer does not chain to the trusted certificate {0}."
NO_FINDINGS = "the signed document embeds no findings.json."
BAD_FINDINGS = "the embedded findings.json is not valid JSON ({0})."
NO_KEYWORDS = "the signed document's metadata carries no audit-verdict keywords."
MISMATCH = "{0} differs: the document says {1!r}, the embedded findings.json says {2!r}."
UNKNOWN_VERDICT = "the embedded findings.json has no known verdict ({0!r})."
COVER_UNREADABLE = "cannot read the verdict printed on the cover ({0})."
COVER_MISMATCH = "the cover does not print the embedded findings.json's verdict ({0!r})."


# What each pyHanko modification level means to a reader of the report.
_LEVEL_WORDS = {
    ModificationLevel.LTA_UPDATES: "archival data",
    ModificationLevel.FORM_FILLING: "form fields filled or signed",
    ModificationLevel.ANNOTATIONS: "annotations added or changed",
    ModificationLevel.OTHER: "page content, attachments or other objects changed",
}


@dataclass(frozen=True)
class ReviewerSignature:
    """One reviewer's signature and the form as it stood in the revision the reviewer signed."""

    valid: bool
    trusted: bool | None
    signer: str | None
    signing_time: datetime | None
    name: str | None
    role: str | None
    decision: str | None
    notes: str | None
    date: str | None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "trusted": self.trusted,
            "signer": self.signer,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "name": self.name,
            "role": self.role,
            "decision": self.decision,
            "notes": self.notes,
            "date": self.date,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class VerificationReport:
    """The outcome of verifying one report; `problems` says why it is not valid or trusted.

    `valid`, `trusted`, `signer` and `signing_time` are the audit signature's; `valid` is False
    when anything in the file (a reviewer signature included) is wrong. `reviews` are the
    reviewer signatures, oldest first.
    """

    valid: bool
    trusted: bool | None
    signer: str | None
    signing_time: datetime | None
    timestamped: bool
    verdict: str | None
    model_sha256: str | None
    findings: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    certification: str | None = None  # "fill_forms" etc.; None for an approval signature
    audit_id: str | None = None
    reviews: list[ReviewerSignature] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the full findings) for `audit verify --json`."""
        return {
            "valid": self.valid,
            "trusted": self.trusted,
            "signer": self.signer,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "timestamped": self.timestamped,
            "certification": self.certification,
            "verdict": self.verdict,
            "audit_id": self.audit_id,
            "model_sha256": self.model_sha256,
            "reviews": [r.as_dict() for r in self.reviews],
            "problems": list(self.problems),
        }


def verify_pdf(
    path: Path, *, trust: Path | None = None, trust_reviewer: Path | None = None
) -> VerificationReport:
    """Verify the report at `path`; raise VerificationError only if it is not a readable PDF."""
    data = _read(Path(path))
    if b"%PDF-" not in data[:_HEADER_WINDOW]:
        raise VerificationError(NOT_A_PDF, where=str(path), fix="pass the signed report.pdf.")
    roots = [_load_trust(trust)] if trust is not None else []
    reviewer_roots = [_load_trust(trust_reviewer)] if trust_reviewer is not None else []
    try:
        return _verify(data, roots, trust, reviewer_roots, trust_reviewer)
    except Exception as exc:  # a damaged file may break the parser anywhere: fail closed
        return _invalid(DAMAGED.format(type(exc).__name__))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise VerificationError(
            UNREADABLE.format(exc.strerror), where=str(path), fix="check the path."
        ) from None


def _load_trust(path: Path) -> asn1_x509.Certificate:
    data = _read(Path(path))
    try:
        cert = (
            x509.load_pem_x509_certificate(data)
            if b"-----BEGIN" in data
            else x509.load_der_x509_certificate(data)
        )
    except ValueError:
        raise VerificationError(
            BAD_TRUST, where=str(path), fix="pass the signer's or its CA's certificate."
        ) from None
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _invalid(problem: str) -> VerificationReport:
    return VerificationReport(
        valid=False,
        trusted=None,
        signer=None,
        signing_time=None,
        timestamped=False,
        verdict=None,
        model_sha256=None,
        findings=None,
        problems=[problem],
    )


def _verify(
    data: bytes,
    roots: list[asn1_x509.Certificate],
    trust: Path | None,
    reviewer_roots: list[asn1_x509.Certificate],
    trust_reviewer: Path | None,
) -> VerificationReport:
    reader = PdfFileReader(BytesIO(data))
    signatures = sorted(reader.embedded_regular_signatures, key=lambda s: s.signed_revision)
    if not signatures:
        return _invalid(NOT_SIGNED)
    sig, later = signatures[0], signatures[1:]  # the audit's own signature, then reviewers'
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    status = validate_pdf_signature(sig, signer_validation_context=context)

    problems = _integrity_problems(sig, status, data, reviewed=bool(later))
    # The signed revision is a complete PDF by itself: read it alone, not through pyHanko's
    # historical views, which resolve some objects to later revisions.
    signed_bytes = data[: _signed_end(sig)]
    signed = PdfFileReader(BytesIO(signed_bytes))
    if reader.total_revisions - 1 > sig.signed_revision and _metadata(reader) != _metadata(signed):
        problems.append(MODIFIED_LATER.format("document metadata"))
    ts = status.timestamp_validity
    timestamped = ts is not None and ts.intact and ts.valid
    if ts is not None and not timestamped:
        problems.append(BAD_TIMESTAMP)
    findings, content_problems, verdict, model_hash = _content(signed)
    problems += content_problems
    # What a reader sees is worth reading only in an otherwise sound document (whose verdict is
    # then known).
    if not problems and verdict is not None:
        problems += _cover_problems(signed_bytes, Verdict(verdict))
    reviews = [_review(s, data, reviewer_roots, trust_reviewer, last=s is later[-1]) for s in later]
    problems += [f"reviewer signature: {p}" for r in reviews if not r.valid for p in r.problems]
    valid = not problems
    trusted = status.trusted if trust is not None else None
    if trusted is False:
        problems.append(UNTRUSTED.format(trust))
    problems += [REVIEWER_UNTRUSTED.format(trust_reviewer) for r in reviews if r.trusted is False]
    return VerificationReport(
        valid=valid,
        trusted=trusted,
        signer=_common_name(status.signing_cert),
        signing_time=ts.timestamp if ts is not None and timestamped else status.signer_reported_dt,
        timestamped=timestamped,
        verdict=verdict,
        model_sha256=model_hash,
        findings=findings,
        problems=problems,
        certification=sig.docmdp_level.name.lower() if sig.docmdp_level else None,
        audit_id=_keywords(signed).get("audit-id"),
        reviews=reviews,
    )


def _review(
    sig: EmbeddedPdfSignature,
    data: bytes,
    roots: list[asn1_x509.Certificate],
    trust: Path | None,
    *,
    last: bool,
) -> ReviewerSignature:
    """A reviewer signature: intact, in the prepared field, and (if last) nothing after it.

    The container is not held to `strict`'s canonical shape: reviewers sign with their own
    tools (Acrobat adds revocation data, other tools other attributes).
    """
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    status = validate_pdf_signature(sig, signer_validation_context=context)
    problems = []
    if not status.intact:
        problems.append(REVIEW_NOT_INTACT)
    if not status.valid:
        problems.append(REVIEW_BAD_SIGNATURE)
    if sig.field_name != SIGNATURE_FIELD:
        problems.append(REVIEW_WRONG_FIELD.format(sig.field_name))
    if status.coverage not in _ACCEPTED_COVERAGE:
        coverage = status.coverage.name if status.coverage else "unknown"
        problems.append(PARTIAL_COVERAGE.format(coverage))
    elif last and sig.signed_revision < sig.reader.total_revisions - 1:
        level = status.modification_level
        if level is None or level > ModificationLevel.LTA_UPDATES:
            problems.append(MODIFIED_AFTER_REVIEW.format(_what_changed(status)))
    elif last and _signed_end(sig) != len(data):
        problems.append(PARTIAL_COVERAGE.format("bytes after the signed range"))
    values = form_values(PdfFileReader(BytesIO(data[: _signed_end(sig)])).root)
    decision = decision_of(values)
    return ReviewerSignature(
        valid=not problems,
        trusted=status.trusted if trust is not None else None,
        signer=_common_name(status.signing_cert),
        signing_time=status.signer_reported_dt,
        name=values.get(NAME_FIELD) or None,
        role=values.get(ROLE_FIELD) or None,
        decision=decision.value if decision else None,
        notes=values.get(NOTES_FIELD) or None,
        date=values.get(DATE_FIELD) or None,
        problems=problems,
    )


def _what_changed(status: PdfSignatureStatus) -> str:
    """pyHanko's difference analysis in words: the level, the fields, or its own reason."""
    diff = status.diff_result
    level = status.modification_level
    words = (_LEVEL_WORDS.get(level) or level.name) if level is not None else "unknown"
    fields_changed = getattr(diff, "changed_form_fields", None)
    if fields_changed and level == ModificationLevel.FORM_FILLING:
        return f"{words}: {', '.join(sorted(fields_changed))}"
    if isinstance(diff, Exception):
        return f"{words}: {str(diff).splitlines()[0]}"
    return words


def _integrity_problems(
    sig: EmbeddedPdfSignature, status: PdfSignatureStatus, data: bytes, *, reviewed: bool
) -> list[str]:
    """The audit signature; with reviewer signatures after it, the certification's
    permission (form fill and signing) bounds what they may change."""
    problems = []
    if not status.intact:
        problems.append(NOT_INTACT)
    if not status.valid:
        problems.append(BAD_SIGNATURE)
    if not strict.container_intact(sig, data):
        problems.append(CONTAINER_CHANGED)
    coverage = status.coverage
    later_revisions = sig.signed_revision < sig.reader.total_revisions - 1
    if coverage not in _ACCEPTED_COVERAGE:
        problems.append(PARTIAL_COVERAGE.format(coverage.name if coverage else "unknown"))
    elif not later_revisions and _signed_end(sig) != len(data):
        problems.append(PARTIAL_COVERAGE.format("bytes after the signed range"))
    elif later_revisions and not data.rstrip(b"\r\n").endswith(b"%%EOF"):
        problems.append(PARTIAL_COVERAGE.format("bytes after the last update"))
    elif later_revisions:
        level = status.modification_level
        if reviewed:
            if level is None or level > ModificationLevel.FORM_FILLING or not status.docmdp_ok:
                problems.append(NOT_PERMITTED.format(_what_changed(status)))
        elif level is None or level > ModificationLevel.LTA_UPDATES or not status.docmdp_ok:
            problems.append(MODIFIED_LATER.format(_what_changed(status)))
    return problems


def _signed_end(sig: EmbeddedPdfSignature) -> int:
    _, _, second_start, second_length = sig.byte_range
    return second_start + second_length


def _content(
    reader: PdfFileReader,
) -> tuple[dict[str, Any] | None, list[str], str | None, str | None]:
    """Findings and keywords as of the signed revision, and where they disagree."""
    keywords = _keywords(reader)
    raw = _embedded_file(reader.root, FINDINGS_NAME)
    if raw is None:
        return None, [NO_FINDINGS], keywords.get("audit-verdict"), keywords.get("model-sha256")
    try:
        findings = load_json_text(decode(raw))
    except YamlSyntaxError as exc:
        return None, [BAD_FINDINGS.format(exc)], keywords.get("audit-verdict"), None
    if not isinstance(findings, dict):
        return None, [BAD_FINDINGS.format("not an object")], keywords.get("audit-verdict"), None
    verdict = findings.get("verdict")
    provenance = findings.get("provenance")
    model_hash = provenance.get("model_sha256") if isinstance(provenance, dict) else None
    problems = (
        []
        if isinstance(verdict, str) and verdict in VERDICT_TEXT
        else [UNKNOWN_VERDICT.format(verdict)]
    )
    if "audit-verdict" not in keywords:
        problems.append(NO_KEYWORDS)
    else:
        for label, key, embedded in (
            ("verdict", "audit-verdict", verdict),
            ("model hash", "model-sha256", model_hash),
        ):
            if keywords.get(key) != embedded:
                problems.append(MISMATCH.format(label, keywords.get(key), embedded))
    return findings, problems, verdict, model_hash


def _cover_problems(signed: bytes, verdict: Verdict) -> list[str]:
    """The verdict printed on page 1 must be the embedded findings' verdict, line for line."""
    expected = VERDICT_TEXT[verdict]
    try:
        text = TextReader(BytesIO(signed)).pages[0].extract_text()
    except Exception as exc:  # any parser failure on this file: the verdict cannot be confirmed
        return [COVER_UNREADABLE.format(type(exc).__name__)]
    lines = {" ".join(line.split()) for line in text.splitlines()}
    return [] if expected in lines else [COVER_MISMATCH.format(expected)]


def _keywords(reader: PdfFileReader) -> dict[str, str]:
    try:
        text = str(reader.trailer["/Info"]["/Keywords"])
    except KeyError:
        return {}
    return dict(_KEYWORD.findall(text))


def _metadata(reader: PdfFileReader) -> tuple[dict[str, str], bytes | None]:
    """What a viewer shows as document properties, minus what archival updates may touch."""
    try:
        info = reader.trailer["/Info"]
    except KeyError:
        info = generic.DictionaryObject()
    fields = {str(k): str(v) for k, v in info.items() if k not in _VOLATILE_INFO}
    root = reader.root
    xmp = _VOLATILE_XMP.sub(b"", root["/Metadata"].data) if "/Metadata" in root else None
    return fields, xmp


def _embedded_file(root: generic.DictionaryObject, name: str) -> bytes | None:
    try:
        tree = root["/Names"]["/EmbeddedFiles"]
    except KeyError:
        return None
    for filespec in _name_tree_values(tree, name):
        return filespec["/EF"]["/F"].data
    return None


def _name_tree_values(node: generic.DictionaryObject, name: str) -> Iterator[Any]:
    """Values stored under `name` in a PDF name tree (flat /Names or nested /Kids); any PDF
    object, as the file has it."""
    names = node.get("/Names")
    if names is not None:
        for i in range(0, len(names) - 1, 2):
            if str(names[i]) == name:
                yield names[i + 1]
    for kid in node.get("/Kids", ()):
        yield from _name_tree_values(kid.get_object(), name)


def _common_name(cert: asn1_x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    subject = cert.subject.native
    return subject.get("common_name") or cert.subject.human_friendly
