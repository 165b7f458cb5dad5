"""Fixtures for signing tests: a real key pair, a real report, and that report signed."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from signing_helpers import render_report

from audit.signing import LoadedSigner, init_keys, load_signer, sign_pdf
from audit.spec import SigningSpec


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    init_keys(folder, common_name="Model Risk Office")
    return folder


@pytest.fixture(scope="session")
def signer(key_dir: Path) -> LoadedSigner:
    return load_signer(SigningSpec(key=key_dir / "signer.key", cert=key_dir / "signer.pem"))


@pytest.fixture(scope="session")
def report_pdf() -> bytes:
    return render_report()


@pytest.fixture(scope="session")
def signed_pdf(report_pdf: bytes, signer: LoadedSigner) -> bytes:
    return sign_pdf(report_pdf, signer)


@pytest.fixture
def signed_path(tmp_path: Path, signed_pdf: bytes) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(signed_pdf)
    return path
