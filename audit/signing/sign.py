"""PAdES signing of a finished report: an incremental update appended to WeasyPrint's bytes.

The audit signature is a certification (DocMDP) signature that permits form filling and
signing and nothing else (`MDPPerm.FILL_FORMS`): a reviewer may fill in the sign-off form and
sign it (`audit.signing.review`), and any other change is a violation that `verify` reports.

B-B (signer certificate and signing time in signed attributes) by default, B-T (plus an RFC 3161
timestamp from a TSA) when a TSA URL is given. The optional visible signature is a text-free
vector stamp: pyHanko's text stamp would use an unembedded standard font, which PDF/A forbids,
and embedding a font needs HarfBuzz, which is not a dependency. Signer, time and reason stay in
the signature dictionary, where every viewer shows them.
"""

from __future__ import annotations

from io import BytesIO

from pyhanko.pdf_utils import content, layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.general import SigningError as HankoSigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp import StaticStampStyle

from audit.errors import SigningError
from audit.signing.keys import LoadedSigner

FIELD_NAME = "AuditSignature"
DIGEST = "sha256"
TSA_TIMEOUT = 10  # seconds
# Lower-left corner of the cover page, in PDF points (A4 and Letter both fit).
STAMP_BOX = (36, 36, 96, 96)

# A neutral seal drawn in vector (60 x 60 points, no text, no font): a navy disc, a white ring and
# a pen stroke. Deliberately not a tick, which a reader could take for "passed".
_SEAL = (
    b"q 0.12 0.23 0.40 rg 30 0 m 46.6 0 60 13.4 60 30 c 60 46.6 46.6 60 30 60 c "
    b"13.4 60 0 46.6 0 30 c 0 13.4 13.4 0 30 0 c f "
    b"1 1 1 RG 1.5 w 30 6 m 43.3 6 54 16.7 54 30 c 54 43.3 43.3 54 30 54 c "
    b"16.7 54 6 43.3 6 30 c 6 16.7 16.7 6 30 6 c S "
    b"3 w 1 J 1 j 16 26 m 22 40 26 40 28 30 c 30 20 34 20 38 34 c 40 40 43 38 45 30 c S Q"
)
_STAMP_STYLE = StaticStampStyle(
    border_width=0,
    background=content.RawContent(_SEAL, box=layout.BoxConstraints(width=60, height=60)),
    background_opacity=1.0,
)

_NOT_A_PDF = "the rendered report is not a readable PDF: {0}"
_TSA_FAILED = "the timestamp authority did not answer: {0}"
_TSA_FIX = "check `signing.tsa_url` and the network, or remove it to sign without a timestamp."


def sign_pdf(
    pdf: bytes,
    signer: LoadedSigner,
    *,
    tsa_url: str | None = None,
    visible: bool = False,
    reason: str = "Audit report",
    location: str | None = None,
    timestamper: TimeStamper | None = None,
) -> bytes:
    """Return `pdf` certified with a PAdES signature; `timestamper` overrides `tsa_url` (tests)."""
    if timestamper is None and tsa_url is not None:
        timestamper = HTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm=DIGEST,
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=signer.subject,
        certify=True,
        docmdp_permissions=MDPPerm.FILL_FORMS,
    )
    field_spec = (
        fields.SigFieldSpec(sig_field_name=FIELD_NAME, on_page=0, box=STAMP_BOX)
        if visible
        else None
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer=signer.signer,
        timestamper=timestamper,
        stamp_style=_STAMP_STYLE if visible else None,
        new_field_spec=field_spec,
    )
    out = BytesIO()
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
        pdf_signer.sign_pdf(writer, output=out)
    except TimestampRequestError as exc:
        raise SigningError(_TSA_FAILED.format(exc), where=tsa_url, fix=_TSA_FIX) from None
    except (PdfError, HankoSigningError) as exc:
        raise SigningError(
            _NOT_A_PDF.format(exc), fix="re-render the report; this is a bug if it repeats."
        ) from None
    return out.getvalue()
