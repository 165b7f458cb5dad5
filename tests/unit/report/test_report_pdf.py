"""Smoke tests of the archival PDF, read back with poppler's tools and pyHanko's reader."""

from __future__ import annotations

import gc
import io
import json
import re
import shutil
import subprocess
import weakref
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError

from audit.errors import ReportError
from audit.report import audit_id, render
from audit.report.readback import pdf_attachments
from tests.unit.report.fixtures import make_result

pytestmark = [
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils"),
    pytest.mark.slow,  # one PDF render, shared by the module, takes a few seconds
]
SIGNER = "Ada Lovelace (Model Risk)"


@pytest.fixture(scope="module")
def attachments() -> dict[str, bytes]:
    result = make_result()
    return {
        "findings.json": json.dumps(result.findings_json(), indent=2).encode(),
        "spec.yaml": result.spec_text.encode(),
    }


@pytest.fixture(scope="module")
def pdf_path(tmp_path_factory, attachments) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    path.write_bytes(render.render_pdf(make_result(), signer=SIGNER, attachments=attachments))
    return path


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _info(path: Path) -> dict[str, str]:
    lines = _run("pdfinfo", str(path)).splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def test_pdf_metadata_pages_and_tags(pdf_path):
    info = _info(pdf_path)
    assert info["Tagged"] == "yes"
    assert info["Author"] == SIGNER
    assert info["Title"] == "Audit report: Credit default scorer"
    assert info["Keywords"] == (
        f"audit-verdict=fail; audit-id={audit_id(make_result())}; model-sha256={'1f' * 32}"
    )
    assert 12 <= int(info["Pages"]) <= 30


def test_pdf_text_has_sections_running_header_and_page_numbers(pdf_path):
    text = _run("pdftotext", "-layout", str(pdf_path), "-")
    pages = int(_info(pdf_path)["Pages"])
    for needle in (
        "FAIL — release blocked",
        "Executive summary",
        "Blocker findings",
        "Bias and fairness",
        "Spurious features",
        "Robustness",
        "Methodology and known limits",
        "attribution maps are evidence of location, not of causation".capitalize(),
        "Provenance",
        "Reviewer sign-off",
        f"page 2 of {pages}",
        f"page {pages} of {pages}",
        f"Credit default scorer · audit {audit_id(make_result())}",
        r"$\frac{1}{0}$",
    ):
        assert needle in text, needle


def test_pdf_embeds_attachments_as_associated_files(pdf_path, attachments):
    listing = _run("pdfdetach", "-list", str(pdf_path))
    assert "findings.json" in listing and "spec.yaml" in listing
    assert pdf_attachments(pdf_path.read_bytes()) == attachments
    reader = PdfFileReader(io.BytesIO(pdf_path.read_bytes()))
    assert len(reader.root["/AF"]) == 2  # PDF/A-3 associated files


def test_pdf_is_pdfa3b_with_embedded_fonts_and_outline(pdf_path):
    reader = PdfFileReader(io.BytesIO(pdf_path.read_bytes()))
    xmp = reader.root["/Metadata"].get_object().data.decode()
    assert re.search(r"pdfaid:part[^0-9]*3", xmp) and re.search(r"pdfaid:conformance[^A-Z]*B", xmp)
    fonts = _run("pdffonts", str(pdf_path)).splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts)  # the "emb" column
    titles, node = [], reader.root["/Outlines"]["/First"]
    while node is not None:
        titles.append(str(node["/Title"]))
        node = node["/Next"] if "/Next" in node else None  # noqa: SIM401 (resolves references)
    for title in ("Executive summary", "Findings", "Methodology and known limits", "Provenance"):
        assert title in titles


def test_render_pdf_refuses_remote_urls(monkeypatch, attachments):
    monkeypatch.setattr(
        render, "render_html", lambda *a, **k: '<img src="https://example.invalid/x.png">'
    )
    with pytest.raises(ReportError, match=r"only data: and file: URLs are allowed"):
        render.render_pdf(make_result(), signer=SIGNER, attachments=attachments)


def test_local_fetcher_refuses_other_schemes():
    html = HTML(
        string='<img src="ftp://example.invalid/x.png">', url_fetcher=render._LocalFetcher()
    )
    with pytest.raises(FatalURLFetchingError):
        html.write_pdf()


def test_render_pdf_requires_findings_json():
    with pytest.raises(ReportError, match=r"findings\.json"):
        render.render_pdf(make_result(), signer=SIGNER, attachments={"spec.yaml": b""})


def test_pdf_bytes_are_reproducible():
    result = make_result(evidence={})
    files = {"findings.json": b"{}", "spec.yaml": b"a: 1\n"}
    first = render.render_pdf(result, signer=SIGNER, attachments=files)
    assert render.render_pdf(result, signer=SIGNER, attachments=files) == first


def test_attachments_carry_their_mime_types(pdf_path):
    reader = PdfFileReader(io.BytesIO(pdf_path.read_bytes()))
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    subtypes = {
        str(names[i]): str(names[i + 1].get_object()["/EF"]["/F"]["/Subtype"])
        for i in range(0, len(names), 2)
    }
    assert subtypes == {"findings.json": "/application/json", "spec.yaml": "/application/yaml"}


def test_lean_user_agent_sheet_renders_as_the_stock_sheet_does(tmp_path):
    """The lean sheet is in effect with this WeasyPrint, and nothing visible changes: the same
    pages and text, list markers included."""
    assert render.LEAN_UA_STYLESHEET is not render.UA_STYLESHEET
    html = render.render_html(make_result(), signer=SIGNER)
    stock = HTML(string=html, base_url=str(render.TEMPLATES), url_fetcher=render._LocalFetcher())
    texts = []
    for name, document in (("lean", render.html_document(html)), ("stock", stock)):
        path = tmp_path / f"{name}.pdf"
        document.write_pdf(path)
        texts.append(_run("pdftotext", "-layout", str(path), "-"))
    assert texts[0] == texts[1]
    assert "• " in texts[0] and "1. " in texts[0]


@pytest.mark.parametrize(
    ("old", "new"),
    [("::note-callback", "::note-back-link"), ("\n::marker {", "\nli::marker {")],
)
def test_lean_user_agent_sheet_falls_back_to_stock_when_weasyprint_changes(monkeypatch, old, new):
    """A sheet that is not the one the lean rules were written against is used as it is."""
    assert old in render.UA
    monkeypatch.setattr(render, "UA", render.UA.replace(old, new))
    assert render._lean_ua_stylesheet() is render.UA_STYLESHEET


def _struct_lines(path: Path) -> list[str]:
    """The tagged text and elements as poppler reads them, without /Span and /NonStruct."""
    lines = _run("pdfinfo", "-struct-text", str(path)).splitlines()
    return [line.strip() for line in lines if line.split()[:1] not in (["Span"], ["NonStruct"])]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils")
def test_lean_tags_and_resources_change_neither_drawing_nor_tagged_text(
    pdf_path, attachments, monkeypatch, tmp_path
):
    """Against WeasyPrint's own output: the same pixels on every page, the same tagged text
    under the same elements in the same order; only the empty /Span and /NonStruct go."""
    monkeypatch.setattr(render, "_flatten_tags", lambda pdf: None)
    monkeypatch.setattr(render, "_own_resources", lambda pdf: None)
    stock = tmp_path / "stock.pdf"
    stock.write_bytes(render.render_pdf(make_result(), signer=SIGNER, attachments=attachments))
    assert _struct_lines(pdf_path) == _struct_lines(stock)
    assert "Span" in _run("pdfinfo", "-struct", str(stock))
    assert "Span" not in _run("pdfinfo", "-struct", str(pdf_path))
    for path in (pdf_path, stock):
        subprocess.run(["pdftoppm", "-r", "30", "-png", str(path), str(tmp_path / path.stem)])
    pages = sorted(tmp_path.glob("report-*.png"))
    assert len(pages) > 10
    for page in pages:
        assert page.read_bytes() == (tmp_path / page.name.replace("report", "stock")).read_bytes()


# A content operator's resource name and the kind of resource it names.
_USES = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s+(?:[-\d.]+\s+)?(Do|Tf|gs|sh|cs|CS|scn|SCN)\b")
_KIND = {b"Do": "/XObject", b"Tf": "/Font", b"gs": "/ExtGState", b"sh": "/Shading"}
_KIND |= {b"cs": "/ColorSpace", b"CS": "/ColorSpace", b"scn": "/Pattern", b"SCN": "/Pattern"}


def _uses(content: bytes) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for name, operator in _USES.findall(content):
        if operator not in (b"scn", b"SCN") or name:
            used.setdefault(_KIND[operator], set()).add("/" + name.decode("latin-1"))
    return used


def _entries(resources, kind: str) -> set[str]:
    return set(resources[kind]) if kind in resources else set()


def test_each_page_and_xobject_lists_the_xobjects_and_fonts_it_uses_and_no_others(pdf_path):
    """Every resource a content stream names is there (drawing depends on it), and a page or
    XObject does not list the XObjects or fonts of others (the signature checks walk them)."""
    reader = PdfFileReader(io.BytesIO(pdf_path.read_bytes()))
    kids = reader.root["/Pages"]["/Kids"]
    streams = [(kids[i]["/Contents"].data, kids[i]["/Resources"]) for i in range(len(kids))]
    checked = 0
    while streams:
        content, resources = streams.pop()
        used = _uses(content)
        for kind, names in used.items():
            assert names <= _entries(resources, kind), kind
        for kind in ("/XObject", "/Font"):
            assert _entries(resources, kind) <= used.get(kind, set()), kind
        for name in _entries(resources, "/XObject"):
            xobject = resources["/XObject"][name]
            if "/Resources" in xobject:
                streams.append((xobject.data, xobject["/Resources"]))
        checked += 1
    assert checked > 30  # the pages and the figures' label groups


def test_every_marked_content_maps_to_the_element_that_holds_it(pdf_path):
    """The parent tree, which screen readers follow from content to tag, stays consistent
    after the attribute-less /Span and /NonStruct elements are merged into their holders.
    (WeasyPrint 70 maps a few MCIDs, e.g. of nested lists, to elements outside the tree;
    those stay as they were.)"""
    reader = PdfFileReader(io.BytesIO(pdf_path.read_bytes()))
    root = reader.root["/StructTreeRoot"]
    kids = reader.root["/Pages"]["/Kids"]
    pages = [kids.raw_get(i).reference for i in range(len(kids))]
    nums = root["/ParentTree"]["/Nums"]
    mapped = 0
    for i in range(0, len(nums), 2):
        key, value = int(nums[i]), nums[i + 1]
        if key >= len(pages):
            continue  # an annotation's element
        content = kids[key]["/Contents"].data
        assert len(value) == len(re.findall(rb"/MCID \d+", content))
        for mcid, ref in enumerate(value):
            element = ref.get_object()
            assert element.raw_get("/Pg").reference == pages[key]
            held = element["/K"]
            assert mcid in (held if isinstance(held, list) else [held])
            mapped += 1
    assert mapped > 100


class _Cycle:
    """An object that refers to itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_collector_is_paused_while_rendering_and_frees_the_cycles_after():
    with render._collector_paused():
        assert not gc.isenabled()
        cycle = _Cycle()
        ref = weakref.ref(cycle)
        del cycle
        assert ref() is not None  # no collection ran inside
    assert gc.isenabled()
    assert ref() is None  # the young pass at the end freed it


def test_a_caller_who_paused_the_collector_keeps_it_paused():
    gc.disable()
    try:
        with render._collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
