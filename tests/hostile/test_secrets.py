"""The key passphrase (PKCS#12 via `passphrase_env`) never reaches output, artifacts or logs."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from hostile_builders import audit_inputs, write_pair

pytestmark = pytest.mark.slow

PASSPHRASE = "Tr0ub4dor-&-3-horse-battery-staple"
ENV = "HOSTILE_P12_PASSPHRASE"
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)


def _p12(folder: Path, passphrase: str) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key_path, cert_path = write_pair(folder)
    key = load_pem_private_key(key_path.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    blob = pkcs12.serialize_key_and_certificates(
        b"signer", key, cert, None, BestAvailableEncryption(passphrase.encode())
    )
    path = folder / "signer.p12"
    path.write_bytes(blob)
    path.chmod(0o600)
    return path


def _pdf_plaintexts(data: bytes) -> list[bytes]:
    """The raw bytes plus every stream inflated (attachments and page text are compressed)."""
    out = [data]
    for raw in _STREAM.findall(data):
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            continue
    return out


def _spec(tmp_path: Path, keys: Path, p12: Path) -> Path:
    def apply(spec):
        spec["signing"] = {"pkcs12": str(p12), "passphrase_env": ENV}

    return audit_inputs(tmp_path / "in", keys, patch=apply)


def test_passphrase_never_appears_in_any_output(
    prefect_server, keys, cli, tmp_path, monkeypatch, caplog
) -> None:
    p12 = _p12(tmp_path / "k", PASSPHRASE)
    monkeypatch.setenv(ENV, PASSPHRASE)
    out = tmp_path / "out"
    run = cli(["run", str(_spec(tmp_path, keys, p12)), "--out", str(out), "--format", "html"])
    assert run.code in (0, 1), run.text
    secret = PASSPHRASE.encode()
    assert PASSPHRASE not in run.text
    assert PASSPHRASE not in caplog.text
    for name in ("findings.json", "junit.xml", "report.html"):
        assert secret not in (out / name).read_bytes(), name
    pdf = (out / "report.pdf").read_bytes()
    plaintexts = _pdf_plaintexts(pdf)
    assert len(plaintexts) > 3, "no streams found: the scan would prove nothing"
    assert b"findings.json" in pdf or any(b'"verdict"' in p for p in plaintexts)
    assert not any(secret in p for p in plaintexts)


def test_wrong_passphrase_error_does_not_echo_either_passphrase(
    prefect_server, keys, cli, tmp_path, monkeypatch
) -> None:
    p12 = _p12(tmp_path / "k", PASSPHRASE)
    wrong = "not-the-passphrase-8c1f"
    monkeypatch.setenv(ENV, wrong)
    run = cli(["run", str(_spec(tmp_path, keys, p12)), "--out", str(tmp_path / "out")])
    assert run.code == 2
    assert "wrong passphrase" in run.err
    assert PASSPHRASE not in run.text and wrong not in run.text
