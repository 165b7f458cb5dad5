"""Helpers for signing tests: a real PDF/A-3b report made by WeasyPrint, certificates on demand."""

from __future__ import annotations

import datetime as dt
import json
import warnings

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from audit.records import VERDICT_TEXT

with warnings.catch_warnings():
    # WeasyPrint warns at import when HarfBuzz-Subset is missing; irrelevant here.
    warnings.simplefilter("ignore", DeprecationWarning)
    import weasyprint
    from weasyprint.urls import URLFetcher

MODEL_SHA = "3f" * 32
_FILLER = "Findings text. " * 200
FINDINGS = {
    "schema_version": 1,
    "audit": {"name": "credit-v3", "started_at": "2026-01-01T00:00:00Z"},
    "verdict": "fail",
    "provenance": {"model_sha256": MODEL_SHA, "seed": 0},
    "metrics": [],
    "findings": [],
}


def keywords(verdict: str = "fail", model_sha: str = MODEL_SHA) -> str:
    return f"audit-verdict={verdict}; audit-id=credit-v3-0001; model-sha256={model_sha}"


def render_report(
    findings: dict | None = FINDINGS,
    keyword_text: str | None = None,
    pages: int = 1,
    cover: str | None = None,
) -> bytes:
    """A small report the way the report engineer makes it: PDF/A-3b, findings.json attached,
    the verdict printed on page 1 (`cover` overrides what is printed)."""
    fetcher = URLFetcher(allowed_protocols={"data", "file"})
    verdict = (findings or {}).get("verdict", "error")
    printed = cover or VERDICT_TEXT.get(verdict, verdict.upper())
    meta = (
        ""
        if keyword_text == ""
        else f'<meta name="keywords" content="{keyword_text or keywords(verdict)}">'
    )
    body = "".join(
        f"<section style='break-after: page'><h2>Section {i}</h2><p>{_FILLER}</p></section>"
        for i in range(pages)
    )
    html = (
        f"<html><head><title>Audit credit-v3</title>{meta}</head>"
        f"<body><p>Verdict</p><h1>{printed}</h1>{body}</body></html>"
    )
    attachments = []
    if findings is not None:
        attachments.append(
            weasyprint.Attachment(
                string=json.dumps(findings),
                name="findings.json",
                url_fetcher=fetcher,
                relationship="Data",
            )
        )
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(
        pdf_variant="pdf/a-3b", attachments=attachments
    )


def dummy_tsa() -> DummyTimeStamper:
    """pyHanko's in-process timestamp authority (RSA only), so B-T needs no network."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(der_key),
    )
