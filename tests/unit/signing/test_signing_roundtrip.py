"""Sign a real WeasyPrint report and verify it: ours, with a timestamp, and with pdfsig."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from certs import make_cert
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from signing_helpers import FINDINGS, MODEL_SHA, dummy_tsa

from audit.errors import SigningError
from audit.signing import LoadedSigner, init_keys, load_signer, sign_pdf, verify_pdf
from audit.signing import sign as sign_module
from audit.signing import verify as verify_module
from audit.spec import SigningSpec


def test_round_trip_reports_signer_time_verdict_and_findings(
    signed_path: Path, report_pdf: bytes, signed_pdf: bytes
) -> None:
    assert signed_pdf.startswith(report_pdf)  # incremental update: WeasyPrint's bytes untouched
    result = verify_pdf(signed_path)
    assert result.valid, result.problems
    assert result.problems == []
    assert result.trusted is None
    assert result.signer == "Model Risk Office"
    assert result.verdict == "fail"
    assert result.model_sha256 == MODEL_SHA
    assert result.findings == FINDINGS
    assert not result.timestamped
    assert result.signing_time is not None
    assert abs(dt.datetime.now(dt.UTC) - result.signing_time) < dt.timedelta(hours=1)


def test_trust_accepts_the_signers_certificate_and_rejects_another(
    signed_path: Path, key_dir: Path, tmp_path: Path
) -> None:
    trusted = verify_pdf(signed_path, trust=key_dir / "signer.pem")
    assert trusted.valid and trusted.trusted is True
    _, stranger = init_keys(tmp_path / "other", common_name="Model Risk Office")
    untrusted = verify_pdf(signed_path, trust=stranger)
    assert untrusted.valid  # intact, just not from the key we trust
    assert untrusted.trusted is False
    assert verify_module.UNTRUSTED.format(stranger) in untrusted.problems


def test_pades_b_t_with_in_process_timestamp_authority(
    tmp_path: Path, report_pdf: bytes, signer: LoadedSigner
) -> None:
    path = tmp_path / "bt.pdf"
    path.write_bytes(sign_pdf(report_pdf, signer, timestamper=dummy_tsa()))
    result = verify_pdf(path)
    assert result.valid, result.problems
    assert result.timestamped
    assert abs(dt.datetime.now(dt.UTC) - result.signing_time) < dt.timedelta(hours=1)


def test_visible_signature_keeps_the_document_valid(
    tmp_path: Path, report_pdf: bytes, signer: LoadedSigner
) -> None:
    signed = sign_pdf(report_pdf, signer, visible=True, location="Berlin")
    path = tmp_path / "visible.pdf"
    path.write_bytes(signed)
    assert b"/FontFile" not in signed[len(report_pdf) :]  # the stamp brings no font
    assert verify_pdf(path).valid


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils (pdfsig) not installed")
def test_poppler_pdfsig_validates_the_signature_independently(signed_path: Path) -> None:
    run = subprocess.run(
        ["pdfsig", str(signed_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Signature Validation: Signature is Valid." in run.stdout, run.stdout + run.stderr
    assert "Total document signed" in run.stdout
    assert "Signer Certificate Common Name: Model Risk Office" in run.stdout
    assert "Signature Type: ETSI.CAdES.detached" in run.stdout  # PAdES


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils (pdfsig) not installed")
def test_pdfsig_validates_the_timestamped_and_visible_signature(
    tmp_path: Path, report_pdf: bytes, signer: LoadedSigner
) -> None:
    path = tmp_path / "bt-visible.pdf"
    path.write_bytes(sign_pdf(report_pdf, signer, visible=True, timestamper=dummy_tsa()))
    run = subprocess.run(
        ["pdfsig", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Signature Validation: Signature is Valid." in run.stdout, run.stdout + run.stderr


def test_passphrase_never_reaches_the_signed_pdf(
    tmp_path: Path, report_pdf: bytes, monkeypatch: pytest.MonkeyPatch, rsa_key
) -> None:
    secret = "pass-phrase-that-must-not-leak-91c2"
    key = rsa_key
    key_path = tmp_path / "enc.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(secret.encode()),
        )
    )
    key_path.chmod(0o600)
    now = dt.datetime.now(dt.UTC)
    cert_path = tmp_path / "c.pem"
    cert_path.write_bytes(
        make_cert(key, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=1))
    )
    monkeypatch.setenv("REPORT_KEY_PASS", secret)
    signer = load_signer(
        SigningSpec(key=key_path, cert=cert_path, passphrase_env="REPORT_KEY_PASS")
    )
    signed = sign_pdf(report_pdf, signer)
    assert secret.encode() not in signed
    assert secret.encode("utf-16-be") not in signed
    assert repr(signer).find(secret) == -1


def test_ec_p256_key_signs_and_verifies(tmp_path: Path, report_pdf: bytes) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    key_path = tmp_path / "ec.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    now = dt.datetime.now(dt.UTC)
    cert_path = tmp_path / "ec.pem"
    cert_path.write_bytes(
        make_cert(key, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=1))
    )
    signer = load_signer(SigningSpec(key=key_path, cert=cert_path))
    path = tmp_path / "ec.pdf"
    path.write_bytes(sign_pdf(report_pdf, signer))
    result = verify_pdf(path, trust=cert_path)
    assert result.valid and result.trusted, result.problems


def test_unreachable_timestamp_authority_is_a_signing_error(
    report_pdf: bytes, signer: LoadedSigner
) -> None:
    url = "http://127.0.0.1:9/"  # discard port on this machine: connection refused, no network
    with pytest.raises(SigningError) as info:
        sign_pdf(report_pdf, signer, tsa_url=url)
    assert info.value.where == url
    assert info.value.fix == sign_module._TSA_FIX
