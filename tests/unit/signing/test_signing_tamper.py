"""Tampering: no changed byte, appended update or mismatched content may verify as valid."""

from __future__ import annotations

import json
import logging
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from signing_helpers import FINDINGS, MODEL_SHA, dummy_tsa, keywords, render_report

from audit.errors import VerificationError
from audit.signing import LoadedSigner, sign_pdf, verify_pdf
from audit.signing import verify as verify_module

FLIPS = 200
SEED = 20261123


def _verdict_of(path: Path) -> str:
    """'valid', 'invalid' or 'unreadable' (VerificationError): the three CLI outcomes."""
    try:
        return "valid" if verify_pdf(path).valid else "invalid"
    except VerificationError:
        return "unreadable"


@pytest.mark.slow
def test_flipping_any_of_200_random_bytes_never_verifies(
    tmp_path: Path, signed_pdf: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="pyhanko")  # formatting its tracebacks is slow
    rng = np.random.default_rng(SEED)
    positions = rng.choice(len(signed_pdf), size=FLIPS, replace=False)
    masks = rng.integers(1, 256, size=FLIPS)
    path = tmp_path / "tampered.pdf"
    accepted = []
    for position, mask in zip(positions.tolist(), masks.tolist(), strict=True):
        data = bytearray(signed_pdf)
        data[position] ^= mask
        path.write_bytes(bytes(data))
        if _verdict_of(path) == "valid":
            accepted.append((position, mask))
    assert accepted == []


def test_case_and_padding_changes_inside_the_signature_string_are_caught(
    tmp_path: Path, signed_pdf: bytes
) -> None:
    """Bytes outside the signed range: hex case, zero padding, and unsigned CMS fields."""
    start = signed_pdf.index(b"/Contents <") + len(b"/Contents <")
    end = signed_pdf.index(b">", start)
    path = tmp_path / "tampered.pdf"
    cases = {
        "hex letter case": _first_hex_letter(signed_pdf, start, end),
        "zero padding": end - 3,
        "outer CMS length": start + 6,
        "digest algorithm list": start + 63,
    }
    for name, position in cases.items():
        data = bytearray(signed_pdf)
        data[position] = _other_hex_char(data[position], keep_value=name == "hex letter case")
        path.write_bytes(bytes(data))
        assert _verdict_of(path) != "valid", name


def _first_hex_letter(data: bytes, start: int, end: int) -> int:
    return next(i for i in range(start, end) if data[i] in b"ABCDEFabcdef")


def _other_hex_char(byte: int, *, keep_value: bool) -> int:
    if keep_value:
        return byte ^ 0x20  # 'A' <-> 'a': same hex value, different bytes
    return ord("1") if byte != ord("1") else ord("2")


def _append_update(signed: bytes, change) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(signed))
    change(writer)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _set_keywords_to_pass(writer: IncrementalPdfFileWriter) -> None:
    info_ref = writer.trailer.raw_get("/Info")
    info = info_ref.get_object()
    info["/Keywords"] = generic.TextStringObject(keywords("pass"))
    writer.mark_update(info_ref)


def _white_out_the_verdict_banner(writer: IncrementalPdfFileWriter) -> None:
    cover = generic.StreamObject(stream_data=b"q 1 1 1 rg 0 700 600 142 re f Q")
    writer.add_stream_to_page(0, writer.add_object(cover))


def _replace_findings_with_a_pass(writer: IncrementalPdfFileWriter) -> None:
    filespec_ref = writer.root["/Names"]["/EmbeddedFiles"]["/Names"].raw_get(1)
    forged = json.dumps(FINDINGS | {"verdict": "pass"}).encode()
    forged_ref = writer.add_object(generic.StreamObject(stream_data=forged))
    filespec_ref.get_object()["/EF"]["/F"] = forged_ref
    writer.mark_update(filespec_ref)


@pytest.mark.parametrize(
    "change",
    [_set_keywords_to_pass, _white_out_the_verdict_banner, _replace_findings_with_a_pass],
    ids=["metadata verdict", "page content", "embedded findings"],
)
def test_an_incremental_update_after_signing_is_rejected(
    tmp_path: Path, signed_pdf: bytes, change
) -> None:
    path = tmp_path / "updated.pdf"
    path.write_bytes(_append_update(signed_pdf, change))
    result = verify_pdf(path)
    assert not result.valid
    assert any(p.startswith("content was changed by an update") for p in result.problems), (
        result.problems
    )
    assert result.verdict == "fail"  # what was signed, not what was appended


def test_a_document_timestamp_added_later_is_harmless(tmp_path: Path, signed_pdf: bytes) -> None:
    """Archival (LTA) updates may follow the signature without invalidating it."""
    out = BytesIO()
    writer = IncrementalPdfFileWriter(BytesIO(signed_pdf))
    signers.PdfTimeStamper(dummy_tsa()).timestamp_pdf(writer, "sha256", output=out)
    path = tmp_path / "lta.pdf"
    path.write_bytes(out.getvalue())
    result = verify_pdf(path)
    assert result.valid, result.problems


def test_bytes_appended_after_the_end_are_rejected(tmp_path: Path, signed_pdf: bytes) -> None:
    path = tmp_path / "appended.pdf"
    path.write_bytes(signed_pdf + b"\n% audit-verdict=pass\n")
    assert _verdict_of(path) != "valid"


def test_unsigned_report_is_invalid(tmp_path: Path, report_pdf: bytes) -> None:
    path = tmp_path / "unsigned.pdf"
    path.write_bytes(report_pdf)
    result = verify_pdf(path)
    assert not result.valid
    assert result.problems == [verify_module.NOT_SIGNED]


def _signed(tmp_path: Path, signer: LoadedSigner, pdf: bytes) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(sign_pdf(pdf, signer))
    return path


def test_document_verdict_that_disagrees_with_findings_is_invalid(
    tmp_path: Path, signer: LoadedSigner
) -> None:
    path = _signed(tmp_path, signer, render_report(keyword_text=keywords("pass")))
    result = verify_pdf(path)
    assert not result.valid
    assert result.problems == [verify_module.MISMATCH.format("verdict", "pass", "fail")]


def test_cover_that_prints_another_verdict_is_invalid(tmp_path: Path, signer: LoadedSigner) -> None:
    """Findings and metadata agree on "fail", but the page a reviewer reads says PASS."""
    path = _signed(tmp_path, signer, render_report(cover="PASS"))
    result = verify_pdf(path)
    assert result.problems == [verify_module.COVER_MISMATCH.format("FAIL — release blocked")]
    assert not result.valid


def test_findings_with_an_unknown_verdict_are_invalid(tmp_path: Path, signer: LoadedSigner) -> None:
    findings = {**FINDINGS, "verdict": "maybe"}
    result = verify_pdf(_signed(tmp_path, signer, render_report(findings=findings)))
    assert result.problems == [verify_module.UNKNOWN_VERDICT.format("maybe")]
    assert not result.valid


def test_model_hash_that_disagrees_with_findings_is_invalid(
    tmp_path: Path, signer: LoadedSigner
) -> None:
    other = "00" * 32
    path = _signed(tmp_path, signer, render_report(keyword_text=keywords("fail", other)))
    result = verify_pdf(path)
    assert result.problems == [verify_module.MISMATCH.format("model hash", other, MODEL_SHA)]
    assert not result.valid


def test_missing_findings_or_keywords_is_invalid(tmp_path: Path, signer: LoadedSigner) -> None:
    no_findings = verify_pdf(_signed(tmp_path, signer, render_report(findings=None)))
    assert no_findings.problems == [verify_module.NO_FINDINGS]
    assert not no_findings.valid
    no_keywords = verify_pdf(_signed(tmp_path, signer, render_report(keyword_text="")))
    assert no_keywords.problems == [verify_module.NO_KEYWORDS]
    assert not no_keywords.valid


def test_unreadable_inputs_raise_verification_error(tmp_path: Path) -> None:
    not_pdf = tmp_path / "report.pdf"
    not_pdf.write_text("hello")
    with pytest.raises(VerificationError) as info:
        verify_pdf(not_pdf)
    assert info.value.message == verify_module.NOT_A_PDF
    with pytest.raises(VerificationError):
        verify_pdf(tmp_path / "missing.pdf")
