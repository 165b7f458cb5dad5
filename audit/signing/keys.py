"""Signing keys: create a key and self-signed certificate, and load them safely for signing.

Key material is loaded with `cryptography` (not pyHanko's file loaders, which log load failures
with tracebacks and return None on a wrong passphrase) so that every failure becomes a
`SigningError` naming the file and the fix, and no passphrase can reach a log.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.sign.signers import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from audit.errors import SigningError
from audit.fsio import write_atomic
from audit.spec import SigningSpec

KEY_FILE = "signer.key"
CERT_FILE = "signer.pem"
KEY_BITS = 3072  # RSA: accepted by every PDF viewer and by pyHanko's timestamp test double
HOME_ENV = "AUDIT_HOME"
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning, RFC 9336

_EXISTS = "{0} already exists."
_EXISTS_FIX = "keep it, or pass --force to replace it (documents signed with it stay valid)."
_ENV_MISSING = "environment variable `{0}` (passphrase_env) is not set."
_ENV_MISSING_FIX = "export {0}=<passphrase> before running; never put it on the command line."
_WRONG_PASSPHRASE = "wrong passphrase, or the file is damaged."
_WRONG_PASSPHRASE_FIX = "check the passphrase in `{0}`."
_NEEDS_PASSPHRASE = "the private key is encrypted but no passphrase was given."
_NEEDS_PASSPHRASE_FIX = "set `signing.passphrase_env` to the name of a variable holding it."
_UNREADABLE_KEY = "not a PEM or DER private key."
_UNREADABLE_CERT = "not a PEM or DER X.509 certificate."
_UNREADABLE_FIX = "point the spec at the right file, or run `audit keys init DIR` for a new pair."
_MISSING = "file not found."
_EXPIRED = "certificate expired on {0:%Y-%m-%d}."
_NOT_YET_VALID = "certificate is not valid before {0:%Y-%m-%d %H:%M} UTC."
_RENEW_FIX = "renew it, or run `audit keys init --force DIR` to make a new key and certificate."
_MISMATCH = "private key `{0}` does not belong to this certificate."
_MISMATCH_FIX = "pair the key with the certificate that was issued for it."
_NO_NON_REPUDIATION = "certificate key usage lacks nonRepudiation (contentCommitment)."
_NO_NON_REPUDIATION_FIX = "use a document-signing certificate, or `audit keys init` to make one."
_NOT_RSA_OR_EC = "unsupported key type {0}; use RSA or EC (P-256)."
_READABLE_BY_OTHERS = "{0} is readable by other users (mode {1:04o}). Fix: chmod 600 {0}"


@dataclass(frozen=True)
class LoadedSigner:
    """Key material ready for `sign_pdf`, plus what the CLI and the report cover show."""

    signer: SimpleSigner
    subject: str
    key_path: Path
    cert_path: Path
    not_after: dt.datetime
    created: bool = False
    warnings: tuple[str, ...] = ()


def default_key_dir() -> Path:
    """Where `audit keys init` and `audit run` keep the default key (`$AUDIT_HOME/keys` wins)."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home) / "keys"
    return Path(platformdirs.user_config_dir("audit")) / "keys"


def init_keys(
    folder: Path,
    *,
    common_name: str = "Audit report signer",
    days: int = 825,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Create `signer.key` (PEM, mode 0600) and a self-signed signing certificate `signer.pem`."""
    folder = Path(folder)
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    if not overwrite:
        for path in (key_path, cert_path):
            if path.exists():
                raise SigningError(_EXISTS.format(path), where=str(path), fix=_EXISTS_FIX)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SigningError(
            f"cannot create the key folder: {exc.strerror}.",
            where=str(folder),
            fix="choose a writable folder.",
        ) from None
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    cert = _self_signed(key, common_name, days)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(key_path, key_pem, mode=0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return key_path, cert_path


def _self_signed(key: rsa.RSAPrivateKey, common_name: str, days: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,  # nonRepudiation: pyHanko requires it for PDF signatures
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def key_file_warning(path: Path) -> str | None:
    """A warning when a private key file can be read by group or others (it should be 0600)."""
    mode = stat.S_IMODE(Path(path).stat().st_mode)
    return _READABLE_BY_OTHERS.format(path, mode) if mode & 0o077 else None


def load_signer(spec: SigningSpec | None) -> LoadedSigner:
    """Load the signer from the spec, or from the default key folder (creating it if missing)."""
    if spec is None:
        folder = default_key_dir()
        key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
        created = not key_path.exists() and not cert_path.exists()
        if created:
            init_keys(folder)
        return _load_pem(key_path, cert_path, passphrase=None, created=created)
    passphrase = _passphrase(spec.passphrase_env)
    if spec.pkcs12 is not None:
        return _load_pkcs12(spec.pkcs12, passphrase)
    if spec.key is None or spec.cert is None:  # SigningSpec's validator already refuses this
        raise SigningError("give `key` and `cert` (PEM), or `pkcs12`.", where="signing")
    return _load_pem(spec.key, spec.cert, passphrase=passphrase, created=False)


def _passphrase(env_name: str | None) -> bytes | None:
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise SigningError(
            _ENV_MISSING.format(env_name),
            where="signing.passphrase_env",
            fix=_ENV_MISSING_FIX.format(env_name),
        )
    return value.encode("utf-8")


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SigningError(_MISSING, where=str(path), fix=_UNREADABLE_FIX) from None
    except OSError as exc:
        raise SigningError(
            f"cannot read: {exc.strerror}.", where=str(path), fix=_UNREADABLE_FIX
        ) from None


def _load_pem(
    key_path: Path, cert_path: Path, *, passphrase: bytes | None, created: bool
) -> LoadedSigner:
    key_bytes = _read(key_path)
    warning = key_file_warning(key_path)
    key = _parse_key(key_bytes, passphrase, key_path)
    cert = _parse_cert(_read(cert_path), cert_path)
    return _checked(key, cert, [], key_path, cert_path, created, (warning,) if warning else ())


def _parse_key(data: bytes, passphrase: bytes | None, path: Path) -> PrivateKeyTypes:
    loader = (
        serialization.load_pem_private_key
        if b"-----BEGIN" in data
        else serialization.load_der_private_key
    )
    try:
        return loader(data, password=passphrase)
    except TypeError:
        if passphrase is None:
            raise SigningError(
                _NEEDS_PASSPHRASE, where=str(path), fix=_NEEDS_PASSPHRASE_FIX
            ) from None
        # a passphrase was given for an unencrypted key: load it without one
        return loader(data, password=None)
    except ValueError:
        if passphrase is not None and b"ENCRYPTED" in data:
            raise SigningError(
                _WRONG_PASSPHRASE, where=str(path), fix=_WRONG_PASSPHRASE_FIX.format(path)
            ) from None
        raise SigningError(_UNREADABLE_KEY, where=str(path), fix=_UNREADABLE_FIX) from None


def _parse_cert(data: bytes, path: Path) -> x509.Certificate:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise SigningError(_UNREADABLE_CERT, where=str(path), fix=_UNREADABLE_FIX) from None


def _load_pkcs12(path: Path, passphrase: bytes | None) -> LoadedSigner:
    data = _read(path)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
    except ValueError:
        raise SigningError(
            _WRONG_PASSPHRASE, where=str(path), fix=_WRONG_PASSPHRASE_FIX.format(path)
        ) from None
    if key is None or cert is None:
        raise SigningError(
            "the PKCS#12 file holds no private key with its certificate.",
            where=str(path),
            fix="export the key together with its certificate.",
        )
    warning = key_file_warning(path)
    return _checked(key, cert, extra, path, path, False, (warning,) if warning else ())


def _checked(
    key: PrivateKeyTypes,
    cert: x509.Certificate,
    extra: list[x509.Certificate],
    key_path: Path,
    cert_path: Path,
    created: bool,
    warnings: tuple[str, ...],
) -> LoadedSigner:
    """Refuse what would make a signature nobody can validate, then wrap it for pyHanko."""
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningError(
            _NOT_RSA_OR_EC.format(type(key).__name__), where=str(key_path), fix=_UNREADABLE_FIX
        )
    now = dt.datetime.now(dt.UTC)
    if now > cert.not_valid_after_utc:
        raise SigningError(
            _EXPIRED.format(cert.not_valid_after_utc), where=str(cert_path), fix=_RENEW_FIX
        )
    if now < cert.not_valid_before_utc:
        raise SigningError(
            _NOT_YET_VALID.format(cert.not_valid_before_utc), where=str(cert_path), fix=_RENEW_FIX
        )
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise SigningError(_MISMATCH.format(key_path), where=str(cert_path), fix=_MISMATCH_FIX)
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.content_commitment:
        raise SigningError(_NO_NON_REPUDIATION, where=str(cert_path), fix=_NO_NON_REPUDIATION_FIX)
    registry = SimpleCertificateStore()
    registry.register_multiple([translate_pyca_cryptography_cert_to_asn1(c) for c in extra])
    signer = SimpleSigner(
        signing_cert=translate_pyca_cryptography_cert_to_asn1(cert),
        signing_key=translate_pyca_cryptography_key_to_asn1(key),
        cert_registry=registry,
    )
    return LoadedSigner(
        signer=signer,
        subject=subject_name(cert),
        key_path=Path(key_path),
        cert_path=Path(cert_path),
        not_after=cert.not_valid_after_utc,
        created=created,
        warnings=warnings,
    )


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def subject_name(cert: x509.Certificate) -> str:
    """A readable signer name: the certificate's common name, else its full subject."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()
