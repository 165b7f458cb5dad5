"""Checks on the bytes of a PDF signature that the signature itself does not cover.

A CMS signature signs only its signed attributes; the container around them (lengths, the
digest-algorithm list, the signer identifier, the signature-algorithm label, unsigned attributes)
and the hex text of the PDF's /Contents string are malleable. A changed byte there leaves the
signature valid, yet the file is no longer the file that was signed. We sign with pyHanko, whose
containers are canonical, so anything non-canonical or inconsistent is treated as tampering.
Certificates other than the signer's (which the ESS signing-certificate attribute binds) stay
unbound; they matter only to trust-path building, which checks their own signatures.
"""

from __future__ import annotations

from asn1crypto import cms
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

# Signature algorithms that name their hash; the bare `rsassa_pkcs1v15` / `ecdsa` labels would let
# the label change without the signature noticing.
_SIGNATURE_HASH = {
    "sha256_rsa": "sha256",
    "sha384_rsa": "sha384",
    "sha512_rsa": "sha512",
    "sha256_ecdsa": "sha256",
    "sha384_ecdsa": "sha384",
    "sha512_ecdsa": "sha512",
}
_ALLOWED_UNSIGNED = {"signature_time_stamp_token"}
_ESS_ATTRIBUTES = {"signing_certificate_v2", "signing_certificate"}


def contents_canonical(sig: EmbeddedPdfSignature, data: bytes) -> bool:
    """The /Contents gap is exactly the hex of a canonical DER blob, then zero padding.

    Hex decoding ignores letter case and whitespace, and DER parsers ignore trailing bytes.
    """
    start, first_len, second_start, _ = sig.byte_range
    gap = data[start + first_len : second_start]
    contents = sig.sig_object["/Contents"].original_bytes
    hex_text = contents.hex().encode("ascii")
    if gap not in (b"<" + hex_text + b">", b"<" + hex_text.upper() + b">"):
        return False
    used = _der_length(contents, 0, len(contents))
    return used is not None and not contents[used:].strip(b"\x00")


def _der_length(data: bytes, start: int, end: int) -> int | None:
    """End offset of the DER element at `start`, or None unless every nested length is minimal.

    Walks the tag-length-value structure without decoding values (re-encoding the whole CMS
    with asn1crypto to compare would cost ~100x more); constructed elements must be filled
    exactly by their children.
    """
    if end - start < 2:
        return None
    tag = data[start]
    if tag == 0 or tag & 0x1F == 0x1F:  # end-of-contents is not DER; CMS has no multi-byte tags
        return None
    first = data[start + 1]
    if first < 0x80:
        length, header = first, 2
    else:
        size = first & 0x7F
        raw = data[start + 2 : start + 2 + size]
        if not 1 <= size <= 4 or len(raw) < size or raw[0] == 0:
            return None
        length, header = int.from_bytes(raw, "big"), 2 + size
        if length < 0x80:
            return None
    stop = start + header + length
    if stop > end:
        return None
    if tag & 0x20:  # constructed: children must tile the content exactly
        position = start + header
        while position < stop:
            position = _der_length(data, position, stop)
            if position is None:
                return None
    return stop


def container_bound(sig: EmbeddedPdfSignature) -> bool:
    """Every unsigned field of the SignedData agrees with what the signature does cover."""
    signed_data = sig.signed_data
    infos = signed_data["signer_infos"]
    if len(infos) != 1:
        return False
    info = infos[0]
    digest = info["digest_algorithm"]
    if [d.dump() for d in signed_data["digest_algorithms"]] != [digest.dump()]:
        return False
    encap = signed_data["encap_content_info"]
    if encap["content_type"].native != "data" or encap["content"].native is not None:
        return False
    algorithm = info["signature_algorithm"]["algorithm"].native
    pss = algorithm == "rsassa_pss"
    if not pss and _SIGNATURE_HASH.get(algorithm) != digest["algorithm"].native:
        return False
    signed_types = {attr["type"].native for attr in info["signed_attrs"]}
    if not signed_types & _ESS_ATTRIBUTES:
        return False
    unsigned = info["unsigned_attrs"]
    if unsigned.native is not None and {a["type"].native for a in unsigned} - _ALLOWED_UNSIGNED:
        return False
    return _sid_matches(info["sid"], sig.signer_cert)


def _sid_matches(sid: cms.SignerIdentifier, cert) -> bool:
    if sid.name == "issuer_and_serial_number":
        value = sid.chosen
        return (
            value["issuer"].dump() == cert.issuer.dump()
            and value["serial_number"].native == cert.serial_number
        )
    return sid.chosen.native == cert.key_identifier
