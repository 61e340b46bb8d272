"""How the Microsoft part is served: the sandbox's own certificate and who trusts it, both
listeners from server.run, the sandbox mounted inside the product, settings and the index."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from fastapi import FastAPI

from proirp.config import Settings
from proirp.config.sandbox_credentials import (
    SANDBOX_MICROSOFT_CLIENT_ID,
    SANDBOX_MICROSOFT_CLIENT_SECRET,
)
from proirp.sandbox import tls
from proirp.sandbox.app import create_sandbox_app
from proirp.sandbox.from_settings import sandbox_config
from proirp.sandbox.server import tls_server_config
from proirp.sandbox.tls import SandboxCertificate, ensure_certificate
from tests.sandbox.conftest import (
    MAILBOX,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_CLIENT_SECRET,
    RunningMicrosoft,
    microsoft_config,
    serve,
    trusting_session,
)

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")

REPO = Path(__file__).resolve().parents[2]


# --- the certificate and who trusts it -------------------------------------------------------


def test_default_trust_refuses_the_sandbox(microsoft: RunningMicrosoft) -> None:
    with requests.Session() as plain, pytest.raises(requests.exceptions.SSLError):
        plain.get(microsoft.root + "/", timeout=10)


def test_ca_bundle_env_does_not_break_a_session_that_ignores_env(
    microsoft: RunningMicrosoft, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with requests.Session() as env_trusting:
        env_trusting.verify = str(microsoft.certificate.ca_path)
        # With trust_env on, REQUESTS_CA_BUNDLE replaces `verify`: the sandbox is not trusted.
        with pytest.raises(requests.exceptions.SSLError):
            env_trusting.get(microsoft.root + "/", timeout=10)
    with trusting_session(microsoft.certificate) as session:
        assert session.get(microsoft.root + "/", timeout=10).status_code == 200


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_strict_x509_verification_accepts_the_chain(
    microsoft: RunningMicrosoft, hostname: str
) -> None:
    context = ssl.create_default_context(cafile=str(microsoft.certificate.ca_path))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
    port = int(microsoft.root.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as wrapped,
    ):
        assert wrapped.version() is not None


def test_certificate_extensions(tls_certificate: SandboxCertificate) -> None:
    ca = x509.load_pem_x509_certificate(tls_certificate.ca_path.read_bytes())
    chain = x509.load_pem_x509_certificates(tls_certificate.cert_path.read_bytes())
    assert len(chain) == 2 and chain[1] == ca
    server = chain[0]
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    server_usage = server.extensions.get_extension_for_class(x509.KeyUsage).value
    assert server_usage.digital_signature and server_usage.key_encipherment
    aki = server.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    lifetime = server.not_valid_after_utc - server.not_valid_before_utc
    assert 364 <= lifetime.days <= 366


def test_certificate_files_are_private_and_reused(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    first = ensure_certificate(directory)
    assert directory.stat().st_mode & 0o777 == 0o700
    assert first.key_path.stat().st_mode & 0o777 == 0o600
    before = first.cert_path.read_bytes()
    assert ensure_certificate(directory).cert_path.read_bytes() == before
    first.key_path.write_text("not a key")
    assert ensure_certificate(directory).cert_path.read_bytes() != before


def test_certificate_close_to_expiry_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    monkeypatch.setattr(tls, "VALIDITY", timedelta(hours=12))
    short = ensure_certificate(tmp_path).cert_path.read_bytes()
    monkeypatch.setattr(tls, "VALIDITY", timedelta(days=365))
    assert ensure_certificate(tmp_path).cert_path.read_bytes() != short


def test_certificate_made_by_racing_starters_is_consistent(tmp_path: Path) -> None:
    barrier = threading.Barrier(4)
    made: list[SandboxCertificate] = []

    def start() -> None:
        barrier.wait()
        made.append(ensure_certificate(tmp_path / "tls"))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(made) == 4
    assert tls._usable(made[0])
    # Only the lock file and the three PEM files: no temporary file left behind.
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == [
        ".lock",
        "ca.pem",
        "cert.pem",
        "key.pem",
    ]


def test_tls_server_config(tls_certificate: SandboxCertificate) -> None:
    config = tls_server_config(FastAPI(), host="127.0.0.1", port=8443, certificate=tls_certificate)
    assert config.is_ssl and config.port == 8443
    assert config.ssl_certfile == str(tls_certificate.cert_path)
    assert config.lifespan == "off" and config.access_log is False


# --- server.run: both listeners, one state ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def running_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, int, Path]]:
    """`proirp.sandbox.server.run` with a TLS port, in a child process."""
    port, tls_port = _free_port(), _free_port()
    script = (
        "from pathlib import Path\n"
        "from proirp.sandbox.config import SandboxConfig\n"
        "from proirp.sandbox.server import run\n"
        f"config = SandboxConfig(twilio_account_sid='AC' + '0' * 32, twilio_auth_token='t',"
        f" microsoft_client_id={MICROSOFT_CLIENT_ID!r},"
        f" microsoft_client_secret={MICROSOFT_CLIENT_SECRET!r})\n"
        f"run(config, port={port}, tls_port={tls_port}, tls_directory=Path({str(tmp_path)!r}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    child = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        yield child, port, tls_port, tmp_path
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def _wait_for(url: str, session: requests.Session, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert child.poll() is None, child.stdout.read().decode() if child.stdout else ""
        try:
            session.get(url, timeout=2)
            return
        except (requests.exceptions.ConnectionError, OSError):
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_run_serves_plain_and_tls_listeners_with_one_state(
    running_server: tuple[subprocess.Popen[bytes], int, int, Path],
) -> None:
    child, port, tls_port, directory = running_server
    plain_root, tls_root = f"http://127.0.0.1:{port}", f"https://127.0.0.1:{tls_port}"
    with requests.Session() as plain:
        plain.trust_env = False
        _wait_for(plain_root + "/", plain, child)
        # run() made the certificate before it listened.
        certificate = ensure_certificate(directory)
        with trusting_session(certificate) as secure:
            _wait_for(tls_root + "/", secure, child)
            document = secure.get(
                tls_root + "/microsoft/login/common/v2.0/.well-known/openid-configuration",
                timeout=5,
            ).json()
            assert document["token_endpoint"].startswith(tls_root + "/microsoft/login/")
            # Browsers consent on the plain listener of the same process.
            assert document["authorization_endpoint"] == (
                f"{plain_root}/microsoft/login/common/oauth2/v2.0/authorize"
            )
            added = plain.post(
                plain_root + "/microsoft/_sandbox/accounts",
                json={"account": MAILBOX},
                auth=(MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET),
                timeout=5,
            )
            assert added.status_code == 201
            listed = secure.get(
                tls_root + "/microsoft/_sandbox/accounts",
                auth=(MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET),
                timeout=5,
            ).json()
            assert [a["account"] for a in listed["accounts"]] == [MAILBOX]
    child.send_signal(signal.SIGTERM)
    assert child.wait(15) == 0


# --- mounted inside the product --------------------------------------------------------------


@pytest.fixture
def mounted(tls_certificate: SandboxCertificate) -> Iterator[RunningMicrosoft]:
    """The sandbox mounted at /sandbox of another app served over TLS, as `proirp serve` does."""
    outer = FastAPI()
    inner = create_sandbox_app(microsoft_config())
    outer.mount("/sandbox", inner)
    with serve(outer, certificate=tls_certificate) as root:
        running = RunningMicrosoft(
            microsoft_config(), inner.state.microsoft, root + "/sandbox", tls_certificate
        )
        yield running
        running.session.close()


def test_msal_and_graph_work_through_the_mount(mounted: RunningMicrosoft) -> None:
    url = mounted.authority + "/v2.0/.well-known/openid-configuration"
    document = mounted.session.get(url, timeout=10).json()
    assert document["token_endpoint"] == mounted.root + "/microsoft/login/common/oauth2/v2.0/token"
    result = mounted.connect()
    me = mounted.graph("GET", "me", result["access_token"]).json()
    assert me["@odata.context"].startswith(mounted.root + "/microsoft/graph/v1.0/$metadata")
    refreshed = mounted.msal_app().acquire_token_by_refresh_token(
        result["refresh_token"], ["Calendars.ReadWrite"]
    )
    assert "access_token" in refreshed, refreshed


# --- settings and the index ------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MICROSOFT_CLIENT_ID", "MICROSOFT_CLIENT_SECRET", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_sandbox_app_registration_without_microsoft_settings(clean_env: None) -> None:
    settings = Settings(_env_file=None)
    config = sandbox_config(settings)
    assert config.microsoft_client_id == SANDBOX_MICROSOFT_CLIENT_ID
    assert config.microsoft_client_secret == SANDBOX_MICROSOFT_CLIENT_SECRET
    assert config.microsoft_consent_base == f"{settings.base_url}/sandbox"
    assert config.microsoft_access_token_seconds == 3600
    assert config.microsoft_mailbox_concurrency == 4


def test_configured_microsoft_app_is_the_one_accepted(clean_env: None) -> None:
    settings = Settings(
        _env_file=None,
        microsoft_client_id="ours-0000-4000-8000-000000000000",
        microsoft_client_secret="our-secret",
    )
    config = sandbox_config(settings)
    assert config.microsoft_client_id == "ours-0000-4000-8000-000000000000"
    assert config.microsoft_client_secret == "our-secret"


def test_index_lists_microsoft(microsoft: RunningMicrosoft) -> None:
    index = microsoft.session.get(microsoft.root + "/", timeout=10).json()
    assert index["vendors"]["microsoft"] == {
        "authority": "/microsoft/login/common",
        "graph": "/microsoft/graph/v1.0",
    }
