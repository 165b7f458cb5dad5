"""Signing: who signed a report, and proof that not a byte changed since.

A report is signed once, after WeasyPrint wrote its final bytes, with a PAdES signature appended
as an incremental update (B-B, or B-T with a timestamp authority). Verification checks the
signature, that nothing but archival data was appended after it, the signer's chain against a
trusted certificate when one is given, and that the embedded findings.json agrees with the
verdict and model hash written into the signed document.
"""

from __future__ import annotations

from audit.signing.keys import LoadedSigner, default_key_dir, init_keys, load_signer
from audit.signing.sign import sign_pdf
from audit.signing.verify import VerificationReport, verify_pdf

__all__ = [
    "LoadedSigner",
    "VerificationReport",
    "default_key_dir",
    "init_keys",
    "load_signer",
    "sign_pdf",
    "verify_pdf",
]
