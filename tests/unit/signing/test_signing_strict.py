"""The container rebuild behind tamper checks: exact for our signatures, strict on every byte."""

from __future__ import annotations

from io import BytesIO

from asn1crypto import core
from hypothesis import given
from hypothesis import strategies as st
from pyhanko.pdf_utils.reader import PdfFileReader

from audit.signing import strict


def _signature(pdf: bytes):
    return PdfFileReader(BytesIO(pdf)).embedded_regular_signatures[0]


def test_our_signature_container_is_rebuilt_exactly(signed_pdf: bytes) -> None:
    sig = _signature(signed_pdf)
    blob = sig.sig_object["/Contents"].original_bytes
    rebuilt = strict._rebuild(sig.signed_data, sig.signer_cert)
    assert blob.startswith(rebuilt)
    assert len(blob) > len(rebuilt)  # pyHanko reserves zero padding after the container
    assert strict.container_intact(sig, signed_pdf)


def _flip_container_byte(signed_pdf: bytes, offset: int, mask: int) -> bytes:
    """XOR one byte of the CMS blob, rewriting both of its hex digits in the file."""
    start = signed_pdf.index(b"/Contents <") + len(b"/Contents <") + 2 * offset
    value = int(signed_pdf[start : start + 2], 16) ^ mask
    return signed_pdf[:start] + f"{value:02X}".encode() + signed_pdf[start + 2 :]


def test_unsigned_version_numbers_and_tags_are_bound(signed_pdf: bytes) -> None:
    """Changes that pyHanko's validation alone accepted (found by sweeping the container)."""
    sig = _signature(signed_pdf)
    blob = sig.sig_object["/Contents"].original_bytes
    signed_data_version = blob.index(b"\x02\x01\x01")  # first INTEGER 1: SignedData version
    info = sig.signed_data["signer_infos"][0].dump()
    signer_info_version = (
        blob.index(info) + len(info) - len(sig.signed_data["signer_infos"][0].contents)
    )
    for offset, mask in [
        (signed_data_version + 2, 0x01),  # version 1 -> 0
        (signer_info_version, 0x10),  # INTEGER tag -> NumericString
        (signer_info_version + 2, 0x02),  # version 1 -> 3
    ]:
        tampered = _flip_container_byte(signed_pdf, offset, mask)
        assert not strict.container_intact(_signature(tampered), tampered), (offset, mask)


@given(st.binary(max_size=70_000))
def test_tlv_encodes_minimal_der_lengths(content: bytes) -> None:
    encoded = strict._tlv(0x04, content)
    assert core.OctetString.load(encoded).native == content
    assert core.OctetString(content).dump() == encoded
