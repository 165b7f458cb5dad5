"""The DER walker behind the container checks: exact on real DER, total on any bytes."""

from __future__ import annotations

from io import BytesIO

from asn1crypto import core
from hypothesis import given
from hypothesis import strategies as st
from pyhanko.pdf_utils.reader import PdfFileReader

from audit.signing import strict


def _cms_blob(signed_pdf: bytes) -> bytes:
    sig = PdfFileReader(BytesIO(signed_pdf)).embedded_regular_signatures[0]
    return sig.sig_object["/Contents"].original_bytes


def test_walker_measures_a_real_signature_exactly(signed_pdf: bytes) -> None:
    blob = _cms_blob(signed_pdf)
    end = strict._der_length(blob, 0, len(blob))
    assert end is not None
    assert blob[end:].strip(b"\x00") == b""
    assert end < len(blob)  # pyHanko reserves padding after the CMS blob


def test_signature_container_of_our_own_signature_is_bound(signed_pdf: bytes) -> None:
    sig = PdfFileReader(BytesIO(signed_pdf)).embedded_regular_signatures[0]
    assert strict.contents_canonical(sig, signed_pdf)
    assert strict.container_bound(sig)


@given(st.lists(st.integers(min_value=0, max_value=2**40), max_size=20), st.text(max_size=50))
def test_walker_accepts_canonical_der(numbers: list[int], text: str) -> None:
    der = _sequence(numbers, text).dump()
    assert strict._der_length(der + b"\x00" * 8, 0, len(der) + 8) == len(der)


class _Ints(core.SequenceOf):
    _child_spec = core.Integer


class _Pair(core.Sequence):
    _fields = [("numbers", _Ints), ("text", core.UTF8String)]  # noqa: RUF012 (asn1crypto API)


def _sequence(numbers: list[int], text: str) -> core.Asn1Value:
    return _Pair({"numbers": numbers, "text": text})


@given(st.binary(max_size=200))
def test_walker_never_raises_and_stays_in_bounds(data: bytes) -> None:
    end = strict._der_length(data, 0, len(data))
    assert end is None or 2 <= end <= len(data)


def test_walker_rejects_non_minimal_lengths_and_end_of_contents() -> None:
    assert strict._der_length(b"\x04\x01A", 0, 3) == 3
    assert strict._der_length(b"\x04\x81\x01A", 0, 4) is None  # long form for a short length
    assert strict._der_length(b"\x30\x02\x00\x00", 0, 4) is None  # EOC inside a SEQUENCE
    assert strict._der_length(b"\x30\x03\x04\x01", 0, 4) is None  # child overruns parent
