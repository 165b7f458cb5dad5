"""Reviewers decide inside the signed PDF: the certified report, `audit review`, the signature
chain `audit verify` reads back, rejected modifications, another tool's review, and the gate."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.form_tools import populate_static_text_field
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from audit.cli import main
from audit.ledger import Ledger
from audit.report import audit_id, render
from audit.signing import LoadedSigner, init_keys, load_signer, sign_pdf
from audit.signing.gate import blocking_rules
from audit.signing.review import (
    DECISION_FIELD,
    NAME_FIELD,
    NOTES_FIELD,
    ROLE_FIELD,
    SIGNATURE_FIELD,
    Decision,
    Review,
    review_pdf,
    set_choice,
    text_style,
)
from audit.signing.verify import verify_pdf
from audit.spec import SigningSpec
from tests.unit.report.fixtures import make_result

pytestmark = pytest.mark.slow  # one real report render, shared by the module


@pytest.fixture(scope="module", autouse=True)
def _quiet() -> None:
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("fontTools").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def result():
    return make_result()


@pytest.fixture(scope="module")
def certified(result, signer: LoadedSigner) -> bytes:
    """The real report (with its sign-off form), certified by the audit key."""
    attachments = {
        "findings.json": json.dumps(result.findings_json()).encode(),
        "spec.yaml": result.spec_text.encode(),
    }
    pdf = render.render_pdf(result, signer=signer.subject, attachments=attachments)
    return sign_pdf(pdf, signer)


@pytest.fixture(scope="module")
def reviewer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reviewer")
    init_keys(folder, common_name="Rita Reviewer")  # nonRepudiation, as pdfsig and pyHanko need
    return folder


@pytest.fixture(scope="module")
def reviewer(reviewer_dir: Path) -> LoadedSigner:
    return load_signer(
        SigningSpec(key=reviewer_dir / "signer.key", cert=reviewer_dir / "signer.pem")
    )


@pytest.fixture(scope="module")
def conditions(result) -> str:
    return "Release behind human review of " + ", ".join(blocking_rules(result.findings_json()))


@pytest.fixture(scope="module")
def reviewed(certified: bytes, reviewer: LoadedSigner, conditions: str) -> bytes:
    review = Review("Rita Reviewer", "Model risk lead", Decision.CONDITIONS, conditions)
    return review_pdf(certified, reviewer, review)


def _write(tmp_path: Path, data: bytes, name: str = "report.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_audit_signature_certifies_fill_forms_only(tmp_path: Path, certified: bytes) -> None:
    report = verify_pdf(_write(tmp_path, certified))
    assert report.valid, report.problems
    assert report.certification == "fill_forms"
    assert report.reviews == []


def test_review_keeps_both_signatures_valid_and_reads_the_decision_back(
    tmp_path: Path, reviewed: bytes, reviewer_dir: Path, conditions: str, result, capsys
) -> None:
    path = _write(tmp_path, reviewed)
    code = main(
        ["verify", str(path), "--json", "--trust-reviewer", str(reviewer_dir / "signer.pem")]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out["problems"]
    assert out["valid"] and out["certification"] == "fill_forms"
    assert out["audit_id"] == audit_id(result)
    (review,) = out["reviews"]
    assert review["valid"] and review["trusted"]
    assert review["signer"] == "Rita Reviewer"
    assert (review["name"], review["role"]) == ("Rita Reviewer", "Model risk lead")
    assert review["decision"] == "conditions"
    assert review["notes"] == conditions


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils (pdfsig) not installed")
def test_pdfsig_validates_both_signatures(tmp_path: Path, reviewed: bytes) -> None:
    path = _write(tmp_path, reviewed)
    run = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert run.stdout.count("Signature Validation: Signature is Valid.") == 2, run.stdout
    assert "Signer Certificate Common Name: Rita Reviewer" in run.stdout
    assert "Signer Certificate Common Name: Model Risk Office" in run.stdout


def test_a_review_made_with_pyhankos_own_api_verifies_the_same_way(
    tmp_path: Path, certified: bytes, reviewer: LoadedSigner
) -> None:
    """Stand-in for Acrobat: another program fills the fields and signs into the field."""
    writer = IncrementalPdfFileWriter(BytesIO(certified))
    style = text_style()
    populate_static_text_field(writer, NAME_FIELD, style, "Ola Other")
    populate_static_text_field(writer, ROLE_FIELD, style, "Risk committee")
    populate_static_text_field(writer, NOTES_FIELD, style, "Fine by me.")
    set_choice(writer, DECISION_FIELD, "approve", "Approve", style)
    out = BytesIO()
    signers.sign_pdf(
        writer,
        signers.PdfSignatureMetadata(
            field_name=SIGNATURE_FIELD, subfilter=fields.SigSeedSubFilter.PADES
        ),
        signer=reviewer.signer,
        output=out,
    )
    report = verify_pdf(_write(tmp_path, out.getvalue()))
    assert report.valid, report.problems
    (review,) = report.reviews
    assert (review.name, review.decision, review.notes) == ("Ola Other", "approve", "Fine by me.")


def _modify(data: bytes, change) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(data))
    change(writer)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _add_annotation(writer: IncrementalPdfFileWriter) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    note = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Text"),
            generic.pdf_name("/Rect"): generic.ArrayObject(
                [generic.NumberObject(v) for v in (50, 50, 70, 70)]
            ),
            generic.pdf_name("/Contents"): generic.TextStringObject("actually it passed"),
        }
    )
    page["/Annots"] = generic.ArrayObject([writer.add_object(note)])
    writer.update_container(page)


def _change_page(writer: IncrementalPdfFileWriter) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 700 Td (PASS) Tj ET")
    page["/Contents"] = writer.add_object(stream)
    writer.update_container(page)


def _swap_fonts(writer: IncrementalPdfFileWriter) -> None:
    """Each page has resources of its own (`render._own_resources`): swapping two of them
    changes every word drawn in those fonts."""
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    fonts = page["/Resources"]["/Font"]
    first, second = list(fonts)[:2]
    fonts[first], fonts[second] = fonts.raw_get(second), fonts.raw_get(first)
    writer.mark_update(page.raw_get("/Resources"))


def _swap_attachment(writer: IncrementalPdfFileWriter) -> None:
    names = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]
    for i in range(0, len(names), 2):
        if str(names[i]) == "findings.json":
            spec = names[i + 1].get_object()
            spec["/EF"]["/F"] = writer.add_object(
                generic.StreamObject(stream_data=b'{"verdict": "pass"}')
            )
            writer.update_container(spec)


def _second_fill(writer: IncrementalPdfFileWriter) -> None:
    for ref in writer.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field["/T"] == DECISION_FIELD:
            field["/V"] = generic.TextStringObject("approve")
            writer.mark_update(ref)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        # pyHanko rates a new /Annots entry on a page that had none as OTHER, not ANNOTATIONS
        (_add_annotation, "not what it permits (page content, attachments or other objects"),
        (_change_page, "not what it permits (page content, attachments or other objects"),
        (_swap_fonts, "not what it permits (page content, attachments or other objects"),
        (_swap_attachment, "not what it permits (page content, attachments or other objects"),
        (_second_fill, "changed after the reviewer signed (form fields filled or signed: decision"),
    ],
    ids=["annotation", "page-content", "page-fonts", "attachment", "second-fill"],
)
def test_any_change_beyond_the_permitted_fill_and_signature_exits_1(
    tmp_path: Path, reviewed: bytes, change, said: str, capsys
) -> None:
    path = _write(tmp_path, _modify(reviewed, change))
    assert main(["verify", str(path)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "INVALID" in out
    assert said in out


def test_a_fill_without_a_reviewer_signature_is_rejected(tmp_path: Path, certified: bytes) -> None:
    report = verify_pdf(_write(tmp_path, _modify(certified, _second_fill)))
    assert not report.valid
    assert any("form fields filled or signed: decision" in p for p in report.problems)


def _review_cli(tmp_path: Path, report: Path, reviewer_dir: Path, *args: str) -> int:
    return main(
        [
            "review",
            str(report),
            "--name",
            "Rita Reviewer",
            "--role",
            "Model risk lead",
            "--key",
            str(reviewer_dir / "signer.key"),
            "--cert",
            str(reviewer_dir / "signer.pem"),
            "--ledger",
            f"sqlite:///{tmp_path / 'ledger.sqlite'}",
            *args,
        ]
    )


def test_gate_exits_0_1_and_2(
    tmp_path: Path, certified: bytes, reviewer_dir: Path, conditions: str, key_dir: Path
) -> None:
    report = _write(tmp_path, certified)
    trusted = ["--trust-reviewer", str(reviewer_dir / "signer.pem")]
    untrusted = ["--trust-reviewer", str(key_dir / "signer.pem")]
    # a failing report, not yet reviewed: shut
    assert main(["gate", str(report), "--require-approval", *trusted]) == 1
    approved = tmp_path / "approved.pdf"
    out = ["--out", str(approved)]
    assert (
        _review_cli(
            tmp_path, report, reviewer_dir, "--decision", "conditions", "--note", conditions, *out
        )
        == 0
    )
    assert main(["gate", str(approved), "--require-approval", *trusted]) == 0
    assert main(["gate", str(approved), "--require-approval", *untrusted]) == 1
    partial = tmp_path / "partial.pdf"
    first_rule = conditions.split("of ", 1)[1].split(",")[0]
    assert (
        _review_cli(
            tmp_path,
            report,
            reviewer_dir,
            "--decision",
            "conditions",
            "--note",
            first_rule,
            "--out",
            str(partial),
        )
        == 0
    )
    assert main(["gate", str(partial), "--require-approval", *trusted]) == 1
    rejected = tmp_path / "rejected.pdf"
    assert (
        _review_cli(tmp_path, report, reviewer_dir, "--decision", "reject", "--out", str(rejected))
        == 0
    )
    assert main(["gate", str(rejected), "--require-approval", *trusted]) == 1
    assert main(["gate", str(tmp_path / "missing.pdf"), "--require-approval", *trusted]) == 2
    (tmp_path / "junk.pdf").write_text("not a pdf")
    assert main(["gate", str(tmp_path / "junk.pdf"), "--require-approval", *trusted]) == 2


def test_review_writes_beside_the_input_and_records_it_in_the_ledger(
    tmp_path: Path, certified: bytes, reviewer_dir: Path, result, capsys
) -> None:
    report = _write(tmp_path, certified)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with Ledger(url) as ledger:
        ledger.record(result)
    assert main(["history", "--ledger", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["review"] == "pending"
    assert _review_cli(tmp_path, report, reviewer_dir, "--decision", "approve") == 0
    assert report.read_bytes() == certified  # the input is never overwritten
    assert verify_pdf(tmp_path / "report-reviewed.pdf").reviews[0].decision == "approve"
    capsys.readouterr()
    assert main(["history", "--ledger", url, "--json"]) == 0
    state = json.loads(capsys.readouterr().out)[0]["review"]
    assert state.startswith("approved by Rita Reviewer on ")
    # a second review of the same output needs --force; of the reviewed file it is refused
    assert _review_cli(tmp_path, report, reviewer_dir, "--decision", "approve") == 2
    again = tmp_path / "report-reviewed.pdf"
    assert (
        _review_cli(
            tmp_path, again, reviewer_dir, "--decision", "reject", "--out", str(tmp_path / "x.pdf")
        )
        == 2
    )
    assert "already reviewed" in capsys.readouterr().err


def test_wrong_pkcs12_passphrase_is_a_clear_error(
    tmp_path: Path, certified: bytes, reviewer_dir: Path, monkeypatch, capsys
) -> None:
    key = serialization.load_pem_private_key((reviewer_dir / "signer.key").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((reviewer_dir / "signer.pem").read_bytes())
    p12 = tmp_path / "me.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"me", key, cert, None, serialization.BestAvailableEncryption(b"right")
        )
    )
    p12.chmod(0o600)
    monkeypatch.setenv("REVIEW_PASS", "hunter2-guess")
    report = _write(tmp_path, certified)
    args = ["review", str(report), "--decision", "approve", "--name", "R", "--role", "QA"]
    assert main([*args, "--pkcs12", str(p12), "--passphrase-env", "REVIEW_PASS"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "wrong passphrase" in err
    assert "hunter2-guess" not in err
    monkeypatch.setenv("REVIEW_PASS", "right")
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    code = main([*args, "--pkcs12", str(p12), "--passphrase-env", "REVIEW_PASS", "--ledger", url])
    assert code == 0
