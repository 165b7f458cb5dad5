"""Checks on the bytes of a PDF signature that the signature itself does not cover.

A CMS signature signs only its signed attributes; the container around them (lengths, tags,
version numbers, the digest-algorithm list, the signer identifier, the signature-algorithm label)
and the hex text of the PDF's /Contents string sit outside the signed byte range. Parsers are
lenient there, so a changed byte can leave the signature valid although the file is no longer the
file that was signed. We sign with pyHanko, whose containers are canonical DER, so verification
rebuilds the expected container from its bound parts and requires the file to hold exactly that.

Bound parts: the signed attributes and signature value (checked by the signature), the signer
certificate (hashed into the ESS signing-certificate attribute). Not bound: other certificates in
the container (a CA chain) and the inside of a timestamp token; they only matter to trust-path and
timestamp validation, which check their own signatures.
"""

from __future__ import annotations

from asn1crypto import algos, cms, core, x509
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

# Signature algorithms must name their hash, and it must be the digest algorithm: the bare
# `rsassa_pkcs1v15` / `ecdsa` labels would let the unsigned label change without notice.
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
_SEQUENCE, _SET, _OCTET_STRING, _CONTEXT_0, _CONTEXT_1 = 0x30, 0x31, 0x04, 0xA0, 0xA1
_V1 = core.Integer(1).dump()


def container_intact(sig: EmbeddedPdfSignature, data: bytes) -> bool:
    """The /Contents gap holds exactly the canonical container, hex-encoded, then zero padding."""
    start, first_len, second_start, _ = sig.byte_range
    gap = data[start + first_len : second_start]
    contents = sig.sig_object["/Contents"].original_bytes
    hex_text = contents.hex().encode("ascii")
    if gap not in (b"<" + hex_text + b">", b"<" + hex_text.upper() + b">"):
        return False  # hex parsing ignores letter case and whitespace
    if not _consistent(sig.signed_data):
        return False
    expected = _rebuild(sig.signed_data, sig.signer_cert)
    return contents.startswith(expected) and not contents[len(expected) :].strip(b"\x00")


def _consistent(signed_data: cms.SignedData) -> bool:
    infos = signed_data["signer_infos"]
    if len(infos) != 1:
        return False
    info = infos[0]
    algorithm = info["signature_algorithm"]["algorithm"].native
    digest = info["digest_algorithm"]["algorithm"].native
    if algorithm != "rsassa_pss" and _SIGNATURE_HASH.get(algorithm) != digest:
        return False
    if not {attr["type"].native for attr in info["signed_attrs"]} & _ESS_ATTRIBUTES:
        return False
    unsigned = info["unsigned_attrs"]
    return unsigned.native is None or not {a["type"].native for a in unsigned} - _ALLOWED_UNSIGNED


def _rebuild(signed_data: cms.SignedData, cert: x509.Certificate) -> bytes:
    """The DER pyHanko writes, from bound parts and canonical encodings of everything else."""
    info = signed_data["signer_infos"][0]
    digest = algos.DigestAlgorithm({"algorithm": info["digest_algorithm"]["algorithm"].native})
    sid = cms.SignerIdentifier(
        name="issuer_and_serial_number",
        value={"issuer": cert.issuer, "serial_number": cert.serial_number},
    )
    unsigned = info["unsigned_attrs"]
    signer_info = _tlv(
        _SEQUENCE,
        _V1
        + sid.dump()
        + digest.dump()
        + _tlv(_CONTEXT_0, info["signed_attrs"].contents)
        + _signature_algorithm(info["signature_algorithm"])
        + _tlv(_OCTET_STRING, info["signature"].native)
        + (_tlv(_CONTEXT_1, unsigned.contents) if unsigned.native is not None else b""),
    )
    body = (
        _V1
        + _tlv(_SET, digest.dump())
        + cms.EncapsulatedContentInfo({"content_type": "data"}).dump()
        + _tlv(_CONTEXT_0, signed_data["certificates"].contents)
        + _tlv(_SET, signer_info)
    )
    return _tlv(
        _SEQUENCE,
        cms.ContentType("signed_data").dump() + _tlv(_CONTEXT_0, _tlv(_SEQUENCE, body)),
    )


def _signature_algorithm(found: algos.SignedDigestAlgorithm) -> bytes:
    """The found label if it is a canonical encoding (RSA PKCS#1 carries NULL parameters).

    Otherwise nothing, so that the rebuilt container cannot match.
    """
    native = found.native
    candidates = {algos.SignedDigestAlgorithm(native).dump()}
    if native["parameters"] is None:
        candidates.add(algos.SignedDigestAlgorithm({**native, "parameters": core.Null()}).dump())
    raw = found.dump()
    return raw if raw in candidates else b""


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content
