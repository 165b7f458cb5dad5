"""A reviewer's decision inside the signed report: fill the sign-off form, sign it.

The audit signature certifies the report with DocMDP "fill forms and sign" (see `sign`), so
the reviewer's fill and approval signature, appended as one incremental update into the empty
`ReviewerSignature` field the renderer prepared, leave the audit signature valid. Any PAdES
tool does the same thing (Acrobat: fill in, then click the signature box); `verify` reads the
decision back from the revision the reviewer signed, whoever wrote it.

Appearances are drawn with an embedded font (pyHanko's glyph accumulator, HarfBuzz), not
pyHanko's default Courier, which is not embedded and so not allowed in PDF/A. The font is STIX
General as shipped with matplotlib: pyHanko 0.38 writes glyph widths (/W) in the font's own
units, which is right only for fonts of 1000 units per em (DejaVu has 2048 and came out with
every letter spaced apart).
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import matplotlib
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.form_tools import (
    TextFieldContent,
    find_existing_empty_field,
    get_single_field_annot,
    populate_static_text_field,
)
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import FormFillingError, PdfError
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as HankoSigningError
from pyhanko.stamp import TextStampStyle

from audit.errors import SigningError
from audit.records import DECISION_TEXT, Decision
from audit.signing.keys import LoadedSigner

SIGNATURE_FIELD = "ReviewerSignature"
NAME_FIELD, ROLE_FIELD, DECISION_FIELD = "reviewer_name", "reviewer_role", "decision"
NOTES_FIELD, DATE_FIELD = "notes", "review_date"
FORM_FIELDS = (NAME_FIELD, ROLE_FIELD, DECISION_FIELD, NOTES_FIELD, DATE_FIELD)
DIGEST = "sha256"
FONT_SIZE = 10
# Average STIX General advance is about 0.5 em: wrap the notes to the box (pyHanko does not).
_CHAR_WIDTH = 0.5


NO_FORM = "this report has no reviewer sign-off form (rendered before forms existed)."
NO_FORM_FIX = "re-run the audit to get a report with the form, or sign off on paper."
ALREADY_REVIEWED = "this report was already reviewed and signed; a second review would void it."
ALREADY_REVIEWED_FIX = "review the original report (the file before `audit review`)."
NOT_A_PDF = "not a readable PDF: {0}"
NO_FONT = "the font that draws the filled-in form is missing ({0})."
FONT_NAME = "STIXGeneral.ttf"  # 1000 units per em, see the module docstring


@dataclass(frozen=True)
class Review:
    """What the reviewer writes into the form."""

    name: str
    role: str
    decision: Decision
    notes: str = ""
    date: dt.date | None = None  # today (UTC) when not given


def font_file() -> Path:
    """STIX General as shipped with matplotlib (a dependency), so no system font is needed."""
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / FONT_NAME
    if not path.is_file():
        raise SigningError(
            NO_FONT.format(path), where=str(path), fix="reinstall matplotlib (`pip install`)."
        )
    return path


def text_style(*, top: bool = False) -> TextBoxStyle:
    """Embedded-font text style for appearances (PDF/A forbids unembedded fonts): one line
    centred vertically, or (`top`) a block from the top of the box."""
    return TextBoxStyle(
        font=GlyphAccumulatorFactory(str(font_file()), font_size=FONT_SIZE),
        font_size=FONT_SIZE,
        box_layout_rule=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MAX if top else layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins(left=5, right=5, top=4, bottom=2),
            inner_content_scaling=layout.InnerScaling.NO_SCALING,
        ),
    )


def review_pdf(pdf: bytes, signer: LoadedSigner, review: Review) -> bytes:
    """Return `pdf` with the form filled in and the reviewer's signature appended."""
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
        _check_form(writer)
        style = text_style()
        when = review.date or dt.datetime.now(dt.UTC).date()
        fill_form(writer, review, when, style)
        out = BytesIO()
        signers.PdfSigner(
            signers.PdfSignatureMetadata(
                field_name=SIGNATURE_FIELD,
                md_algorithm=DIGEST,
                subfilter=fields.SigSeedSubFilter.PADES,
                reason=f"Reviewer decision: {DECISION_TEXT[review.decision]}",
                name=signer.subject,
            ),
            signer=signer.signer,
            stamp_style=TextStampStyle(
                stamp_text=f"Signed by %(signer)s\n%(ts)s\n{DECISION_TEXT[review.decision]}",
                text_box_style=style,
                border_width=0,
            ),
        ).sign_pdf(writer, output=out)
    except (PdfError, HankoSigningError) as exc:
        raise SigningError(NOT_A_PDF.format(exc), fix="pass the signed report.pdf.") from None
    return out.getvalue()


def _check_form(writer: IncrementalPdfFileWriter) -> None:
    values = form_values(writer.root)
    if SIGNATURE_FIELD not in values or any(name not in values for name in FORM_FIELDS):
        raise SigningError(NO_FORM, fix=NO_FORM_FIX)
    if values[SIGNATURE_FIELD] is not None or any(values[n] for n in FORM_FIELDS):
        raise SigningError(ALREADY_REVIEWED, fix=ALREADY_REVIEWED_FIX)


def fill_form(
    writer: IncrementalPdfFileWriter, review: Review, when: dt.date, style: TextBoxStyle
) -> None:
    """Write every form value with an appearance; text fields become read-only."""
    for name, value in (
        (NAME_FIELD, review.name),
        (ROLE_FIELD, review.role),
        (DATE_FIELD, when.isoformat()),
    ):
        populate_static_text_field(writer, name, style, value)
    notes = review.notes or "-"
    ref = find_existing_empty_field(writer, NOTES_FIELD, "/Tx")
    populate_static_text_field(writer, NOTES_FIELD, text_style(top=True), _wrap(writer, notes))
    notes_field = ref.get_object()
    assert isinstance(notes_field, generic.DictionaryObject)  # a field is a dictionary
    notes_field["/V"] = generic.TextStringObject(notes)  # the words, not the line breaks
    writer.mark_update(ref)
    set_choice(writer, DECISION_FIELD, review.decision.value, DECISION_TEXT[review.decision], style)


def _wrap(writer: IncrementalPdfFileWriter, text: str) -> str:
    field = find_existing_empty_field(writer, NOTES_FIELD, "/Tx").get_object()
    assert isinstance(field, generic.DictionaryObject)  # a field is a dictionary
    x1, _, x2, _ = get_single_field_annot(field)["/Rect"]
    width = max(10, int((abs(float(x2) - float(x1)) - 10) / (FONT_SIZE * _CHAR_WIDTH)))
    return "\n".join(
        line for para in text.splitlines() or [""] for line in textwrap.wrap(para, width) or [""]
    )


def set_choice(
    writer: IncrementalPdfFileWriter, name: str, value: str, label: str, style: TextBoxStyle
) -> None:
    """Select `value` in a choice field and draw `label` as its appearance.

    pyHanko fills text fields only; a choice field is the same field dictionary with an
    export value in /V, so this follows `populate_static_text_field` step by step.
    """
    ref = find_existing_empty_field(writer, name, "/Ch")
    field = ref.get_object()
    assert isinstance(field, generic.DictionaryObject)  # a field is a dictionary
    options = [str(opt[0]) for opt in field.get("/Opt", ())]
    if value not in options:
        raise FormFillingError(f"{name}: {value!r} is not one of {options}")
    annot = get_single_field_annot(field)
    x1, y1, x2, y2 = (float(v) for v in annot["/Rect"])
    content = TextFieldContent(
        writer=writer,
        text_content=label,
        text_style=style,
        box=layout.BoxConstraints(width=abs(x2 - x1), height=abs(y2 - y1)),
    )
    content.apply_appearance(annot)
    writer.update_container(annot)
    field["/V"] = generic.TextStringObject(value)
    field["/Ff"] = generic.NumberObject(int(field.get("/Ff", 0)) | 1)  # read-only
    writer.mark_update(ref)


def form_values(root: generic.DictionaryObject) -> dict[str, str | None]:
    """Top-level form field values by name ('' for an empty text field, None for no value)."""
    try:
        field_list = root["/AcroForm"]["/Fields"]
    except KeyError:
        return {}
    values: dict[str, str | None] = {}
    for ref in field_list:
        field = ref.get_object()
        name = field.get("/T")
        if name is None:
            continue
        value = field.get("/V")
        if value is None:
            values[str(name)] = None
        elif isinstance(value, generic.DictionaryObject):  # a signature dictionary
            values[str(name)] = "signed"
        else:
            values[str(name)] = str(value)
    return values


def decision_of(values: Mapping[str, str | None]) -> Decision | None:
    """The decision the form records, or None when it is empty or not one of the choices."""
    try:
        return Decision(values.get(DECISION_FIELD) or "")
    except ValueError:
        return None
