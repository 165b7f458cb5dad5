"""Render an `AuditResult` to one self-contained HTML document, and that to a PDF/A-3b.

PDF/A-3b is the archival variant that keeps attachments: PDF/A-1 and -2 drop arbitrary
embedded files, and the signed report must carry `findings.json` and the spec. Fetching is
limited to `data:` and `file:` URLs, so rendering never touches the network.
"""

from __future__ import annotations

import base64
import gc
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import jinja2
import pydyf
from markupsafe import Markup, escape
from weasyprint import CSS, HTML, Attachment
from weasyprint.html import UA, UA_COUNTER_STYLE, UA_FORM_STYLESHEET, UA_STYLESHEET
from weasyprint.urls import FatalURLFetchingError, URLFetcher

from audit.errors import ReportError
from audit.records import AuditResult
from audit.report.context import build_context

TEMPLATES = Path(__file__).resolve().parents[2] / "report_templates"
ALLOWED_SCHEMES = ("data", "file")
PDF_VARIANT = "pdf/a-3b"
REQUIRED_ATTACHMENTS = ("findings.json",)
ATTACHMENT_MIME = {".json": "application/json", ".yaml": "application/yaml"}

FETCH_REFUSED = "the report tried to load {url!r}; only data: and file: URLs are allowed."
MISSING_ATTACHMENT = "the PDF needs the attachment {name!r}."


# WeasyPrint's user-agent sheet styles six pseudo-elements of *every* element (`::marker` and
# the footnote and note ones): in a 30-page report, 6 of 7 computed styles and a fifth of
# layout time, all unused. The report has no footnotes and its only list items are `<li>`.
_UNIVERSAL_MARKER = "\n::marker {"
_SCOPED_MARKER = "\nli::marker, summary::marker {"
_NOTE_RULES = re.compile(r"^::(?:footnote|note)-[a-z]+ \{[^}]*\}\n", re.MULTILINE)
_NOTE_RULE_COUNT = 5


def _lean_ua_stylesheet() -> CSS:
    """The stock sheet with those rules scoped or dropped; the stock sheet itself if its text
    is not the one this was written against (a new WeasyPrint: slower, never wrong)."""
    lean, dropped = _NOTE_RULES.subn("", UA.replace(_UNIVERSAL_MARKER, _SCOPED_MARKER, 1))
    if _SCOPED_MARKER not in lean or dropped != _NOTE_RULE_COUNT or "\n::" in lean:
        return UA_STYLESHEET
    return CSS(string=lean, counter_style=UA_COUNTER_STYLE)


LEAN_UA_STYLESHEET = _lean_ua_stylesheet()


class _ReportHTML(HTML):
    """An HTML document rendered with the lean user-agent sheet."""

    def _ua_stylesheets(self, forms: bool = False) -> list[CSS]:
        return [LEAN_UA_STYLESHEET, UA_FORM_STYLESHEET] if forms else [LEAN_UA_STYLESHEET]


class _LocalFetcher(URLFetcher):
    """Resolves only data: and file: URLs; anything else stops the rendering."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=ALLOWED_SCHEMES, fail_on_errors=True)


def html_document(html: str) -> HTML:
    """The report's HTML as WeasyPrint renders it: lean user-agent sheet, local URLs only."""
    return _ReportHTML(string=html, base_url=str(TEMPLATES), url_fetcher=_LocalFetcher())


def column_header(name: object) -> Markup:
    """A column header that may wrap only between name parts: after `_`, `*`, `/` and `-`.

    Headers never break inside a word (`th` has `overflow-wrap: normal`), so without these
    break points `education_num` could not wrap at all, and with `anywhere` it split as
    "educa tion_n um".
    """
    text = str(escape(str(name)))
    for mark in ("_", "*", "/", "-"):
        text = text.replace(mark, f"{mark}<wbr>")
    return Markup(text)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["header"] = column_header
    return env


_ENV = _environment()


def render_html(result: AuditResult, *, signer: str, self_contained: bool = True) -> str:
    """The report as one HTML document; with `self_contained`, the CSS is inlined too
    (otherwise it is linked from the installed templates folder).

    Plots are always inlined as data: URIs, so the file opens anywhere without its folder.
    """
    context = build_context(result, signer=signer)
    css_path = TEMPLATES / "report.css"
    context["css"] = Markup(css_path.read_text(encoding="utf-8")) if self_contained else ""
    context["css_href"] = css_path.as_uri()
    try:
        return _ENV.get_template("base.html.j2").render(context)
    except jinja2.TemplateError as exc:
        raise ReportError(
            f"the report template failed: {exc}",
            where=str(TEMPLATES),
            fix="report a bug; the templates ship with the tool.",
        ) from exc


def _attachment(name: str, data: bytes, when: datetime) -> Attachment:
    """Attach from a data: URL, so the PDF records the MIME type PDF/A-3 asks for."""
    mime = ATTACHMENT_MIME.get(Path(name).suffix, "application/octet-stream")
    return Attachment(
        url=f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}",
        url_fetcher=_LocalFetcher(),
        name=name,
        description=f"{name} ({mime})",
        created=when,
        modified=when,
        relationship="Source" if name.endswith(".json") else "Data",
    )


def _timestamp(result: AuditResult) -> datetime:
    try:
        return datetime.fromisoformat(result.finished_at)
    except ValueError:
        return datetime(1970, 1, 1)


# The sign-off page's signature <input>: rendered as a text field, then made a signature field.
SIGNATURE_FIELD = "ReviewerSignature"


def _dedupe_associated_files(pdf: pydyf.PDF) -> None:
    """WeasyPrint 70 lists each attachment twice in the catalog's /AF; keep one of each."""
    catalog = pdf.catalog
    if "AF" in catalog:
        catalog["AF"][:] = list(dict.fromkeys(catalog["AF"]))


def _archival_form(pdf: pydyf.PDF) -> None:
    """Make WeasyPrint's form fields PDF/A-3b conformant, and the signature box a /Sig field.

    WeasyPrint sets /NeedAppearances and gives text and choice widgets no appearance stream;
    ISO 19005-2/-3 clause 6.4.1 forbids the first and clause 6.3.3 requires a normal
    appearance (/AP /N) on every widget. Each widget gets an empty one, which a filling tool
    replaces with the text it draws. The empty signature field is what `audit review` or a
    reviewer's PDF reader signs into.
    """
    form = pdf.catalog.get("AcroForm")
    if form is None:
        return
    form.pop("NeedAppearances", None)
    for ref in form["Fields"]:
        field = pdf.objects[int(ref.split()[0])]
        if "AP" not in field:
            x1, y1, x2, y2 = field["Rect"]
            blank = pydyf.Stream(
                extra={
                    "Type": "/XObject",
                    "Subtype": "/Form",
                    "BBox": pydyf.Array((0, 0, abs(x2 - x1), abs(y2 - y1))),
                }
            )
            pdf.add_object(blank)
            field["AP"] = pydyf.Dictionary({"N": blank.reference})
        if getattr(field.get("T"), "string", None) == SIGNATURE_FIELD:
            field["FT"] = "/Sig"
            for key in ("V", "DA", "MaxLen"):
                field.pop(key, None)


def _untag_widgets(pdf: pydyf.PDF) -> None:
    """Take the form's widgets out of the structure tree (WeasyPrint tags them as /Form).

    A field dictionary that the structure tree also references is an object used in two
    places, and pyHanko's difference analysis (like any careful validator) cannot tell a
    legitimate form fill from a change to tagged content: the audit signature would read as
    broken after every review. The labels next to the fields stay tagged; PDF/A-3b does not
    require a structure tree at all.
    """
    form = pdf.catalog.get("AcroForm")
    if form is None or "StructTreeRoot" not in pdf.catalog:
        return
    widgets = {bytes(ref) for ref in form["Fields"]}
    objrs = {
        obj.reference
        for obj in pdf.objects
        if isinstance(obj, pydyf.Dictionary)
        and obj.get("Type") == "/OBJR"
        and bytes(obj["Obj"]) in widgets
    }
    detached = set()
    for obj in pdf.objects:
        if isinstance(obj, pydyf.Dictionary) and obj.get("S") == "/Form" and objrs & set(obj["K"]):
            parent = pdf.objects[int(obj["P"].split()[0])]
            parent["K"][:] = [k for k in parent["K"] if k != obj.reference]
            detached.add(obj.reference)
    root = pdf.objects[int(pdf.catalog["StructTreeRoot"].split()[0])]
    parents = pdf.objects[int(root["ParentTree"].split()[0])]
    nums = parents["Nums"]
    pairs = [(nums[i], nums[i + 1]) for i in range(0, len(nums) - 1, 2)]
    nums[:] = [x for key, value in pairs if value not in list(detached) for x in (key, value)]
    for ref in widgets:
        pdf.objects[int(ref.split()[0])].pop("StructParent", None)


def _flatten_tags(pdf: pydyf.PDF) -> None:
    """Merge attribute-less /Span and /NonStruct elements into the element that holds them.

    WeasyPrint wraps every text fragment in a /Span of its own (2,900 in the tabular demo, most
    inside table cells) and anonymous boxes in /NonStruct: two thirds of its 5,000 structure
    elements say nothing about the content, and each is an object that pyHanko's difference
    analysis reads and walks on every review and verify. ISO 32000 gives neither type a
    meaning of its own, so an element of one of them with no attributes and the page of the
    element holding it (MCIDs count per page) is replaced, in place, by what it holds: its
    marked content and child elements move in order into the nearest element that stays.
    Every piece of content keeps its semantic tag (cell, heading, paragraph, link) and its
    place in the reading order; elements with attributes (/A, /Lang, /Alt, ...) stay.
    """
    if "StructTreeRoot" not in pdf.catalog:
        return
    root = pdf.objects[_object_number(pdf.catalog["StructTreeRoot"])]
    merged_into: dict[bytes, bytes] = {}
    keepers = [pdf.objects[_object_number(ref)] for ref in root["K"]]
    while keepers:
        keeper = keepers.pop()
        kids: list[object] = []
        pending = list(reversed(keeper["K"]))
        while pending:
            kid = pending.pop()
            element = _struct_element(pdf, kid)
            if element is not None and _plain(element) and element["Pg"] == keeper.get("Pg"):
                merged_into[kid] = keeper.reference
                pending.extend(reversed(element["K"]))
                continue
            if element is not None:
                element["P"] = keeper.reference
                keepers.append(element)
            kids.append(kid)  # a kept element, an MCID, or an annotation's /OBJR
        keeper["K"][:] = kids
    nums = pdf.objects[_object_number(root["ParentTree"])]["Nums"]
    for i in range(1, len(nums), 2):
        if isinstance(nums[i], pydyf.Array):  # a page: the element of each MCID
            nums[i][:] = [merged_into.get(ref, ref) for ref in nums[i]]
        else:  # an annotation: its element
            nums[i] = merged_into.get(nums[i], nums[i])
    _free(pdf, merged_into)


_PLAIN_TYPES = ("/Span", "/NonStruct")
_PLAIN_KEYS = {"Type", "S", "K", "P", "Pg"}


def _plain(element: pydyf.Dictionary) -> bool:
    return element["S"] in _PLAIN_TYPES and element.keys() == _PLAIN_KEYS


def _struct_element(pdf: pydyf.PDF, kid: object) -> pydyf.Dictionary | None:
    """The structure element a /K entry refers to; None for an MCID or another object."""
    if not isinstance(kid, bytes):
        return None
    target = pdf.objects[_object_number(kid)]
    if isinstance(target, pydyf.Dictionary) and target.get("Type") == "/StructElem":
        return target
    return None


def _free(pdf: pydyf.PDF, refs: Iterable[bytes]) -> None:
    """Leave objects nothing refers to any more out of the file: free cross-reference entries,
    linked from object 0 as ISO 32000-1 (7.5.4) describes, with the next generation 1."""
    previous = pdf.objects[0]
    for number in sorted(_object_number(ref) for ref in refs):
        freed = pdf.objects[number]
        freed.free, freed.generation = "f", 1
        previous.offset = number
        previous = freed
    previous.offset = 0


def _own_resources(pdf: pydyf.PDF) -> None:
    """Give each page and each form XObject only the resources its content names.

    WeasyPrint hands every page one shared dictionary, so every page lists every figure's
    form XObjects (one per centred SVG label: 140 in the tabular demo), each of those lists
    every font of the document, and the form's default resources (/DR) are the shared
    dictionary too. A PDF is a graph, not a tree: pyHanko's difference analysis, run on every
    review and verify, enumerates each path from the trailer to every object, so the fonts
    were walked once per page, XObject and font (150,000 paths, 18 million calls, 20 s of CPU).
    Now a page or XObject keeps, of each kind of named resource, the entries whose names occur
    in its content stream (a superset of what it uses: drawing is unchanged), and /DR keeps
    fonts, colour spaces and graphics states (what a default appearance string can name).
    """
    pages = [pdf.objects[number] for number in pdf.pages["Kids"][::3]]  # pydyf: N 0 R ...
    shared_refs = {page["Resources"] for page in pages}
    if len(shared_refs) != 1:
        return  # not WeasyPrint's layout: leave it alone
    shared_ref = shared_refs.pop()
    shared = pdf.objects[_object_number(shared_ref)]
    for page in pages:
        own = _named_only(pdf, shared, _names_in(pdf.objects[_object_number(page["Contents"])]))
        pdf.add_object(own)
        page["Resources"] = own.reference
    holders: dict[bytes, list[pydyf.Stream]] = {}
    for obj in pdf.objects:
        if isinstance(obj, pydyf.Stream) and isinstance(obj.extra.get("Resources"), bytes):
            holders.setdefault(obj.extra["Resources"], []).append(obj)
    for ref, streams in holders.items():
        if len(streams) == 1 and ref != shared_ref:  # its own (WeasyPrint: one per group)
            resources = pdf.objects[_object_number(ref)]
            resources.update(_named_only(pdf, resources, _names_in(streams[0])))
    form = pdf.catalog.get("AcroForm")
    if form is not None and form.get("DR") == shared_ref and shared_ref not in holders:
        for key in _DRAWN:
            shared.pop(key, None)
    elif shared_ref not in holders:
        _free(pdf, [shared_ref])


# Resources a content stream draws by name (`Do`, `scn`, `sh`); an appearance string cannot.
_DRAWN = ("XObject", "Pattern", "Shading")
_NAME = re.compile(rb"/([^\s/\[\]()<>{}%]+)")


def _named_only(pdf: pydyf.PDF, resources: pydyf.Dictionary, named: set[str]) -> pydyf.Dictionary:
    """A copy of `resources` whose dictionaries of named resources keep only `named` entries."""
    own = pydyf.Dictionary(resources)
    for kind, value in resources.items():
        entries = pdf.objects[_object_number(value)] if isinstance(value, bytes) else value
        if isinstance(entries, pydyf.Dictionary):
            own[kind] = pydyf.Dictionary({k: v for k, v in entries.items() if k in named})
    return own


def _names_in(stream: pydyf.Stream) -> set[str]:
    """Every name a content stream mentions (a superset of the resources it uses; pydyf
    writes names as given, in content and in dictionary keys alike)."""
    return {
        name.decode("latin-1")
        for item in stream.stream
        for name in _NAME.findall(item if isinstance(item, bytes) else pydyf.Array([item]).data)
    }


def _object_number(reference: bytes) -> int:
    return int(reference.split()[0])


def _without_object_streams(pdf: pydyf.PDF) -> None:
    """Write every object on its own, never packed into one object stream.

    pydyf packs all of a document's small objects (here thousands of structure elements)
    into a single object stream, and pyHanko reads such an object by scanning the stream's
    header from the top: signing a review and validating a signature walk the structure tree,
    so each took close to a minute on the demo report (quadratic in the object count). The
    streams themselves (page content, fonts, attachments) stay compressed; only the packing
    of dictionaries goes.
    """
    write = pdf.write

    def write_loose(output: object, version: bytes, identifier: object, compress: bool) -> None:
        write(output, version, identifier, compress=False)

    pdf.write = write_loose


def _finish(document: object, pdf: pydyf.PDF) -> None:
    _dedupe_associated_files(pdf)
    _archival_form(pdf)
    _untag_widgets(pdf)
    _flatten_tags(pdf)
    _own_resources(pdf)
    _without_object_streams(pdf)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No automatic garbage collection while a report renders; one young pass at the end.

    WeasyPrint keeps hundreds of thousands of boxes, styles and layout objects alive while
    it lays out, and every full pass of the cyclic collector walks all of them: on the
    30-page report, five full passes and about 700 younger ones cost 13-15% of `render_pdf`.
    With the collector paused, all that the render allocated stays in the young generation,
    so the one pass at the end walks only the render's own leftovers (about 0.3 s) and frees
    its cycles before `render_pdf` returns. Whoever had paused the collector keeps it paused.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.collect(0)
            gc.enable()


def render_pdf(result: AuditResult, *, signer: str, attachments: Mapping[str, bytes]) -> bytes:
    """The archival PDF: tagged, bookmarked, fonts embedded, attachments as associated files."""
    with _collector_paused():
        return _render_pdf(result, signer=signer, attachments=attachments)


def _render_pdf(result: AuditResult, *, signer: str, attachments: Mapping[str, bytes]) -> bytes:
    for name in REQUIRED_ATTACHMENTS:
        if name not in attachments:
            raise ReportError(
                MISSING_ATTACHMENT.format(name=name),
                where="render_pdf(attachments=...)",
                fix="pass findings.json (and spec.yaml) as bytes.",
            )
    html = render_html(result, signer=signer)
    when = _timestamp(result)
    try:
        pdf = html_document(html).write_pdf(
            pdf_variant=PDF_VARIANT,
            pdf_tags=True,
            attachments=[_attachment(n, d, when) for n, d in sorted(attachments.items())],
            uncompressed_pdf=False,
            pdf_forms=True,
            finisher=_finish,
        )
    except FatalURLFetchingError as exc:
        url = str(exc.__cause__ or exc)
        raise ReportError(FETCH_REFUSED.format(url=url), where="report HTML") from None
    if not pdf:
        raise ReportError("WeasyPrint produced an empty PDF.", where="render_pdf")
    return pdf
