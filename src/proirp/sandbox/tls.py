"""The sandbox's own TLS certificate: a small CA and a server certificate for localhost.

msal only speaks to an https:// authority, so the sandbox serves Microsoft's part over TLS.
Clients trust the sandbox by trusting `ca.pem` alone, e.g. with requests:

    session = requests.Session()
    session.verify = str(certificate.ca_path)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `verify`

The certificates carry every extension Python 3.13's strict X.509 verification asks for (CA
basicConstraints and keyUsage, subject and authority key identifiers, a SAN, serverAuth).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

try:  # Serialises two processes creating the files at once; POSIX only.
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

CA_FILE = "ca.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
LOCK_FILE = ".lock"
VALIDITY = dt.timedelta(days=365)
# A certificate closer than this to its end is replaced at start-up.
RENEW_BEFORE = dt.timedelta(days=1)
HOSTS = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class SandboxCertificate:
    """Where the sandbox's TLS files are: the CA clients trust, the served chain and its key."""

    ca_path: Path
    cert_path: Path  # server certificate followed by the CA certificate
    key_path: Path  # the server certificate's private key (mode 0600)


def ensure_certificate(directory: Path) -> SandboxCertificate:
    """The certificate in `directory`, created there first if missing, unreadable or about to
    expire. Safe when several processes start at once: creation is locked and each file is
    replaced atomically."""
    _private_directory(directory)
    certificate = SandboxCertificate(
        ca_path=directory / CA_FILE,
        cert_path=directory / CERT_FILE,
        key_path=directory / KEY_FILE,
    )
    with _locked(directory / LOCK_FILE):
        if not _usable(certificate):
            _create(certificate)
    return certificate


def _private_directory(directory: Path) -> None:
    """Each folder made for the certificate 0700, as the product makes its own (kit/files.py;
    the sandbox imports nothing of the product but its settings)."""
    for folder in reversed([d for d in (directory, *directory.parents) if not d.exists()]):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            folder.chmod(0o700)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _usable(certificate: SandboxCertificate) -> bool:
    """Whether the files exist, belong together and stay valid for more than RENEW_BEFORE."""
    try:
        ca = x509.load_pem_x509_certificate(certificate.ca_path.read_bytes())
        chain = x509.load_pem_x509_certificates(certificate.cert_path.read_bytes())
        key = serialization.load_pem_private_key(certificate.key_path.read_bytes(), None)
    except (OSError, ValueError):
        return False
    server = chain[0]
    now = dt.datetime.now(dt.UTC)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    try:
        server.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return (
        key.public_key().public_bytes(encoding, public)
        == server.public_key().public_bytes(encoding, public)
        and server.not_valid_before_utc <= now
        and min(server.not_valid_after_utc, ca.not_valid_after_utc) - now > RENEW_BEFORE
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Pro IRP provider sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _create(certificate: SandboxCertificate) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    # A little back-dating absorbs clock skew between processes and machines.
    not_before, not_after = now - dt.timedelta(minutes=5), now + VALIDITY
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = _name("Pro IRP sandbox CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names: list[x509.GeneralName] = [x509.DNSName(host) for host in HOSTS]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ADDRESSES]
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The key first, the CA last: a reader that sees a new CA sees a matching chain and key.
    _write_atomically(certificate.key_path, key_pem, mode=0o600)
    _write_atomically(
        certificate.cert_path, server.public_bytes(pem) + ca.public_bytes(pem), mode=0o600
    )
    _write_atomically(certificate.ca_path, ca.public_bytes(pem), mode=0o600)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Write a temporary file beside `path`, then rename it over `path`."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(temporary, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
