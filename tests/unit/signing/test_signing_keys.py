"""Key creation and loading: modes, key usage, and every refusal named with its fix."""

from __future__ import annotations

import datetime as dt
import logging
import stat
from pathlib import Path

import pytest
from certs import make_cert
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from audit.errors import SigningError
from audit.signing import default_key_dir, init_keys, load_signer
from audit.signing import keys as keys_module
from audit.spec import SigningSpec

SECRET = "correct horse battery staple 7f3a"
NOW = dt.datetime.now(dt.UTC)


def _write_pem_key(path: Path, key, passphrase: str | None = None) -> Path:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    path.chmod(0o600)
    return path


def _valid_cert(tmp_path: Path, key, name: str = "cert.pem") -> Path:
    path = tmp_path / name
    path.write_bytes(
        make_cert(key, not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=9))
    )
    return path


def test_init_keys_writes_private_key_0600_and_signing_certificate(tmp_path: Path) -> None:
    key_path, cert_path = init_keys(tmp_path / "k", common_name="Risk Office", days=30)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert not usage.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert keys_module.DOCUMENT_SIGNING in eku
    assert cert.subject.rfc4514_string() == "CN=Risk Office"
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=30) < lifetime < dt.timedelta(days=30, minutes=10)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert key.key_size == keys_module.KEY_BITS


def test_init_keys_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    key_path, _ = init_keys(tmp_path)
    first = key_path.read_bytes()
    with pytest.raises(SigningError) as info:
        init_keys(tmp_path)
    assert info.value.message == keys_module._EXISTS.format(key_path)
    assert key_path.read_bytes() == first
    init_keys(tmp_path, overwrite=True)
    assert key_path.read_bytes() != first


def test_default_key_dir_honours_audit_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AUDIT_HOME", str(tmp_path))
    assert default_key_dir() == tmp_path / "keys"
    monkeypatch.delenv("AUDIT_HOME")
    assert default_key_dir().name == "keys"
    assert default_key_dir().parent.name == "audit"


def test_load_signer_without_spec_creates_the_default_key_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AUDIT_HOME", str(tmp_path))
    first = load_signer(None)
    assert first.created
    assert first.key_path == tmp_path / "keys" / "signer.key"
    assert first.subject == "Audit report signer"
    second = load_signer(None)
    assert not second.created
    assert second.warnings == ()


def test_key_readable_by_others_gives_a_warning(key_dir: Path, tmp_path: Path) -> None:
    key = tmp_path / "signer.key"
    key.write_bytes((key_dir / "signer.key").read_bytes())
    key.chmod(0o644)
    loaded = load_signer(SigningSpec(key=key, cert=key_dir / "signer.pem"))
    assert loaded.warnings == (keys_module._READABLE_BY_OTHERS.format(key, 0o644),)
    key.chmod(0o600)
    assert load_signer(SigningSpec(key=key, cert=key_dir / "signer.pem")).warnings == ()


def test_encrypted_pem_with_passphrase_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rsa_key
) -> None:
    key = _write_pem_key(tmp_path / "enc.key", rsa_key, SECRET)
    cert = _valid_cert(tmp_path, rsa_key)
    monkeypatch.setenv("SIGNING_PASS", SECRET)
    loaded = load_signer(SigningSpec(key=key, cert=cert, passphrase_env="SIGNING_PASS"))
    assert loaded.subject == "Test signer"


def test_wrong_passphrase_is_a_clear_error_that_never_shows_the_passphrase(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    rsa_key,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = _write_pem_key(tmp_path / "enc.key", rsa_key, "the real one")
    cert = _valid_cert(tmp_path, rsa_key)
    monkeypatch.setenv("SIGNING_PASS", SECRET)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SigningError) as info:
        load_signer(SigningSpec(key=key, cert=cert, passphrase_env="SIGNING_PASS"))
    assert info.value.message == keys_module._WRONG_PASSPHRASE
    assert info.value.where == str(key)
    captured = capsys.readouterr()
    for text in (str(info.value), repr(info.value), caplog.text, captured.out, captured.err):
        assert SECRET not in text


def test_wrong_passphrase_for_pkcs12(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rsa_key
) -> None:
    cert = x509.load_pem_x509_certificate(_valid_cert(tmp_path, rsa_key).read_bytes())
    p12 = tmp_path / "signer.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"signer", rsa_key, cert, None, serialization.BestAvailableEncryption(b"right")
        )
    )
    p12.chmod(0o600)
    monkeypatch.setenv("P12_PASS", "right")
    assert load_signer(SigningSpec(pkcs12=p12, passphrase_env="P12_PASS")).subject == "Test signer"
    monkeypatch.setenv("P12_PASS", SECRET)
    with pytest.raises(SigningError) as info:
        load_signer(SigningSpec(pkcs12=p12, passphrase_env="P12_PASS"))
    assert info.value.message == keys_module._WRONG_PASSPHRASE
    assert SECRET not in str(info.value)


def test_passphrase_variable_not_set(monkeypatch: pytest.MonkeyPatch, key_dir: Path) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    spec = SigningSpec(
        key=key_dir / "signer.key", cert=key_dir / "signer.pem", passphrase_env="NOT_SET_ANYWHERE"
    )
    with pytest.raises(SigningError) as info:
        load_signer(spec)
    assert info.value.message == keys_module._ENV_MISSING.format("NOT_SET_ANYWHERE")


def test_encrypted_key_without_passphrase(tmp_path: Path, rsa_key) -> None:
    key = _write_pem_key(tmp_path / "enc.key", rsa_key, "secret")
    with pytest.raises(SigningError) as info:
        load_signer(SigningSpec(key=key, cert=_valid_cert(tmp_path, rsa_key)))
    assert info.value.message == keys_module._NEEDS_PASSPHRASE


@pytest.mark.parametrize(
    ("not_before", "not_after", "message"),
    [
        (NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1), keys_module._EXPIRED),
        (NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=30), keys_module._NOT_YET_VALID),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_certificate_outside_its_validity_is_refused(
    tmp_path: Path, rsa_key, not_before, not_after, message: str
) -> None:
    key = _write_pem_key(tmp_path / "k.key", rsa_key)
    cert = tmp_path / "c.pem"
    cert.write_bytes(make_cert(rsa_key, not_before=not_before, not_after=not_after))
    with pytest.raises(SigningError) as info:
        load_signer(SigningSpec(key=key, cert=cert))
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    when = (
        parsed.not_valid_after_utc
        if message == keys_module._EXPIRED
        else parsed.not_valid_before_utc
    )
    assert info.value.message == message.format(when)
    assert info.value.where == str(cert)
    assert info.value.fix == keys_module._RENEW_FIX


def test_key_that_does_not_match_its_certificate(key_dir: Path, tmp_path: Path, rsa_key) -> None:
    cert = _valid_cert(tmp_path, rsa_key)
    other_key = key_dir / "signer.key"
    with pytest.raises(SigningError) as info:
        load_signer(SigningSpec(key=other_key, cert=cert))
    assert info.value.message == keys_module._MISMATCH.format(other_key)
    assert info.value.where == str(cert)


def test_certificate_without_non_repudiation_is_refused(tmp_path: Path, rsa_key) -> None:
    key = _write_pem_key(tmp_path / "k.key", rsa_key)
    cert = tmp_path / "c.pem"
    cert.write_bytes(
        make_cert(
            rsa_key,
            not_before=NOW - dt.timedelta(days=1),
            not_after=NOW + dt.timedelta(days=1),
            non_repudiation=False,
        )
    )
    with pytest.raises(SigningError) as info:
        load_signer(SigningSpec(key=key, cert=cert))
    assert info.value.message == keys_module._NO_NON_REPUDIATION


@pytest.mark.parametrize("which", ["key", "cert"])
def test_garbage_or_missing_files(tmp_path: Path, key_dir: Path, which: str) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"this is not key material")
    junk.chmod(0o600)
    paths = {"key": key_dir / "signer.key", "cert": key_dir / "signer.pem"}
    paths[which] = junk
    with pytest.raises(SigningError) as info:
        load_signer(SigningSpec(**paths))
    expected = keys_module._UNREADABLE_KEY if which == "key" else keys_module._UNREADABLE_CERT
    assert info.value.message == expected
    paths[which] = tmp_path / "missing"
    with pytest.raises(SigningError) as info:
        load_signer(SigningSpec(**paths))
    assert info.value.message == keys_module._MISSING
