"""A live stack for end-to-end tests and benchmarks: the provider sandbox and the product, each a
real process (`proirp sandbox`, `proirp serve`, optionally `proirp worker`), over real HTTP, on a
database of their own. Nothing is patched inside the product."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from proirp.audit.keys import ChainKeyring, install_chain_keyring
from proirp.auth import totp
from proirp.auth.mfa_models import SecondFactor
from proirp.auth.models import ApiToken, TokenKind, User
from proirp.auth.secrets import hash_password, new_token, token_digest
from proirp.config.sandbox_credentials import (
    SANDBOX_GOOGLE_CLIENT_ID,
    SANDBOX_GOOGLE_CLIENT_SECRET,
    SANDBOX_MICROSOFT_CLIENT_ID,
    SANDBOX_MICROSOFT_CLIENT_SECRET,
    SANDBOX_SENDGRID_API_KEY,
    SANDBOX_SENDGRID_WEBHOOK_PUBLIC_KEY,
    SANDBOX_TWILIO_ACCOUNT_SID,
    SANDBOX_TWILIO_AUTH_TOKEN,
)
from proirp.kit.crypto import Vault, install_vault
from proirp.kit.db import create_db_engine
from proirp.kit.time import utcnow
from proirp.migrations.commands import upgrade
from tests.databases import fresh_database

BIN = Path(sys.executable).parent
SANDBOX_FROM = "+15005550006"


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, and not one this process was given before: the system may
    hand the same free port to two calls in a row (a stack's sandbox once got one port for its
    HTTP and its TLS listener)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    cwd: Path | None = None  # where it runs (and reads its .env); None: here

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(  # noqa: S603 (our own console script)
            self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd
        )

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up, as in a crash."""
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class LiveStack:
    app_url: str
    sandbox_url: str
    database_url: str
    engine: Engine
    env: dict[str, str]
    tmp: Path
    processes: dict[str, Process] = field(default_factory=dict)
    token: str = ""
    user_id: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def sandbox_auth(self) -> tuple[str, str]:
        return (SANDBOX_TWILIO_ACCOUNT_SID, SANDBOX_TWILIO_AUTH_TOKEN)

    def api(self, token: str | None = None) -> httpx.Client:
        """The product's API as the admin, or as the owner of `token`."""
        headers = {"Authorization": f"Bearer {token}"} if token else self.headers
        return httpx.Client(base_url=self.app_url, headers=headers, timeout=30)

    def sandbox(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.sandbox_url}/twilio", auth=self.sandbox_auth, timeout=30
        )

    def sendgrid(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.sandbox_url}/sendgrid",
            headers={"Authorization": f"Bearer {SANDBOX_SENDGRID_API_KEY}"},
            timeout=30,
        )

    def email_ledger(self) -> list[dict[str, Any]]:
        with self.sendgrid() as client:
            messages: list[dict[str, Any]] = client.get("/_sandbox/ledger").json()["messages"]
            return messages

    def email_stats(self) -> dict[str, int]:
        with self.sendgrid() as client:
            stats: dict[str, int] = client.get("/_sandbox/stats").json()
            return stats

    def configure_sendgrid(self, **knobs: Any) -> None:
        with self.sendgrid() as client:
            client.post("/_sandbox/config", json=knobs).raise_for_status()

    def google(self) -> httpx.Client:
        """The sandbox's Google control routes (basic auth: the client id and secret)."""
        return httpx.Client(
            base_url=f"{self.sandbox_url}/google/_sandbox",
            auth=(SANDBOX_GOOGLE_CLIENT_ID, SANDBOX_GOOGLE_CLIENT_SECRET),
            timeout=30,
        )

    def google_stats(self) -> dict[str, int]:
        with self.google() as client:
            stats: dict[str, int] = client.get("/stats").json()
            return stats

    @property
    def sandbox_tls_url(self) -> str:
        """The sandbox's TLS listener (Microsoft's part is reached there, as msal requires)."""
        return f"https://127.0.0.1:{self.env['SANDBOX_TLS_PORT']}"

    @property
    def sandbox_ca(self) -> str:
        return self.env["MICROSOFT_CA_BUNDLE"]

    def microsoft(self) -> httpx.Client:
        """The sandbox's Microsoft control routes (basic auth: the client id and secret)."""
        return httpx.Client(
            base_url=f"{self.sandbox_url}/microsoft/_sandbox",
            auth=(SANDBOX_MICROSOFT_CLIENT_ID, SANDBOX_MICROSOFT_CLIENT_SECRET),
            timeout=30,
        )

    def microsoft_stats(self) -> dict[str, Any]:
        with self.microsoft() as client:
            stats: dict[str, Any] = client.get("/stats").json()
            return stats

    def ledger(self) -> list[dict[str, Any]]:
        with self.sandbox() as client:
            messages: list[dict[str, Any]] = client.get("/_sandbox/ledger").json()["messages"]
            return messages

    def configure_sandbox(self, **knobs: Any) -> None:
        with self.sandbox() as client:
            client.post("/_sandbox/config", json=knobs).raise_for_status()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def start(self, name: str, *args: str) -> Process:
        process = Process(name, [str(BIN / "proirp"), *args], self.env, self.tmp / f"{name}.log")
        process.start()
        self.processes[name] = process
        return process

    def wait_healthy(self, url: str, timeout: float = 90) -> None:
        def up() -> bool:
            try:
                return httpx.get(url, timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        if not wait_until(up, timeout=timeout, interval=0.1):
            logs = "\n".join(p.log_path.read_text()[-3000:] for p in self.processes.values())
            raise RuntimeError(f"{url} did not come up:\n{logs}")


def create_user_with_token(
    engine: Engine,
    *,
    email: str = "frontdesk@clinic.example.com",
    role: str = "admin",
    password_hash: str | None = None,
) -> tuple[str, str]:
    """A staff account and an API token for it: (user id, token). An admin has a second factor,
    as every admin must. `password_hash` (of "x" * 16) spares many accounts a hash each."""
    token = new_token()
    password_hash = password_hash or hash_password("x" * 16)
    with Session(engine) as session:
        user = User(email=email, role=role, password_hash=password_hash)
        session.add(user)
        session.flush()
        if role == "admin":
            session.add(
                SecondFactor(user_id=user.id, totp_secret=totp.new_secret(), confirmed_at=utcnow())
            )
        session.add(
            ApiToken(
                user_id=user.id,
                token_hash=token_digest(token),
                kind=TokenKind.API,
                expires_at=utcnow() + timedelta(days=1),
            )
        )
        session.commit()
        return user.id, token


@contextmanager
def live_stack(
    tmp: Path,
    *,
    separate_worker: bool = False,
    settings: dict[str, str] | None = None,
) -> Iterator[LiveStack]:
    """Start sandbox + product on a fresh database; stop them (and drop the database) after."""
    kind = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    queue_backend = os.environ.get("QUEUE_BACKEND", "sqlite")
    with ExitStack() as stack:
        database_url = stack.enter_context(fresh_database(kind, tmp))
        upgrade(database_url)
        engine = create_db_engine(database_url)
        stack.callback(engine.dispose)
        app_port, sandbox_port, tls_port = free_port(), free_port(), free_port()
        sandbox_tls = f"https://127.0.0.1:{tls_port}/microsoft"
        from tests.conftest import TEST_AUDIT_KEYS, TEST_KEYS

        env = {
            **os.environ,
            "PROIRP_ENV": "test",
            "DATABASE_URL": database_url,
            "PROIRP_DATA_DIR": str(tmp / "data"),
            "PROIRP_ENCRYPTION_KEYS": ",".join(TEST_KEYS),
            "AUDIT_CHAIN_KEYS": ",".join(TEST_AUDIT_KEYS),
            "QUEUE_BACKEND": queue_backend,
            "QUEUE_NAME": f"proirp-test-{uuid.uuid4().hex[:8]}",
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{app_port}",
            "TWILIO_ACCOUNT_SID": SANDBOX_TWILIO_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": SANDBOX_TWILIO_AUTH_TOKEN,
            "TWILIO_PHONE_NUMBER": SANDBOX_FROM,
            "TWILIO_API_BASE": f"http://127.0.0.1:{sandbox_port}/twilio",
            "TWILIO_MPS": "100",
            "SENDGRID_API_KEY": SANDBOX_SENDGRID_API_KEY,
            "SENDGRID_API_BASE": f"http://127.0.0.1:{sandbox_port}/sendgrid",
            "SENDGRID_FROM_EMAIL": "frontdesk@lakeside.example.com",
            "SENDGRID_WEBHOOK_PUBLIC_KEY": SANDBOX_SENDGRID_WEBHOOK_PUBLIC_KEY,
            "GOOGLE_CLIENT_ID": SANDBOX_GOOGLE_CLIENT_ID,
            "GOOGLE_CLIENT_SECRET": SANDBOX_GOOGLE_CLIENT_SECRET,
            "GOOGLE_OAUTH_BASE": f"http://127.0.0.1:{sandbox_port}/google/oauth",
            "GOOGLE_API_BASE": f"http://127.0.0.1:{sandbox_port}/google/api",
            "GOOGLE_REDIRECT_URI": f"http://127.0.0.1:{app_port}/calendar/google/callback",
            "MICROSOFT_CLIENT_ID": SANDBOX_MICROSOFT_CLIENT_ID,
            "MICROSOFT_CLIENT_SECRET": SANDBOX_MICROSOFT_CLIENT_SECRET,
            "MICROSOFT_AUTHORITY": f"{sandbox_tls}/login/common",
            "MICROSOFT_GRAPH_BASE": f"{sandbox_tls}/graph/v1.0",
            "MICROSOFT_CA_BUNDLE": str(tmp / "data" / "sandbox-tls" / "ca.pem"),
            "MICROSOFT_REDIRECT_URI": f"http://127.0.0.1:{app_port}/calendar/microsoft/callback",
            "SANDBOX_TLS_PORT": str(tls_port),
            # The product serves its own sandbox's Microsoft part (sandbox mode) apart from it.
            "SERVE_SANDBOX_TLS_PORT": str(free_port()),
            "RECONCILE_AFTER_SECONDS": "4",
            "SEND_TIMEOUT_SECONDS": "2",
            "PRACTICE_TIMEZONE": "America/Chicago",
            "PRACTICE_NAME": "Lakeside Behavioral Health",
            "PRACTICE_PHONE": "+12025550100",
            "LOG_LEVEL": "INFO",
            **(settings or {}),
        }
        env.pop("PYTEST_CURRENT_TEST", None)
        live = LiveStack(
            app_url=f"http://127.0.0.1:{app_port}",
            sandbox_url=f"http://127.0.0.1:{sandbox_port}",
            database_url=database_url,
            engine=engine,
            env=env,
            tmp=tmp,
        )
        install_vault(Vault(TEST_KEYS))  # the same keys the processes use, to read their rows
        install_chain_keyring(ChainKeyring(TEST_AUDIT_KEYS))  # and to sign and check audit rows
        live.user_id, live.token = create_user_with_token(engine)
        embedded = queue_backend == "sqlite" and not separate_worker
        live.start("sandbox", "sandbox", "--port", str(sandbox_port), "--tls-port", str(tls_port))
        stack.callback(live.processes["sandbox"].stop)
        serve_args = ["serve", "--port", str(app_port)]
        serve_args.append("--embedded-worker" if embedded else "--no-embedded-worker")
        live.start("serve", *serve_args)
        stack.callback(lambda: live.processes["serve"].stop())
        if not embedded:
            live.start("worker", "worker")
            stack.callback(lambda: live.processes["worker"].stop())
        live.wait_healthy(f"{live.sandbox_url}/twilio/_sandbox/stats")
        live.wait_healthy(f"{live.app_url}/healthz")
        yield live


# No provider credentials at all: `proirp serve` mounts the sandbox for every provider.
SANDBOX_MODE = {
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_PHONE_NUMBER": "",
    "SENDGRID_API_KEY": "",
    "SENDGRID_API_BASE": "https://api.sendgrid.com",
    "SENDGRID_FROM_EMAIL": "",
    "SENDGRID_WEBHOOK_PUBLIC_KEY": "",
    "GOOGLE_CLIENT_ID": "",
    "GOOGLE_CLIENT_SECRET": "",
    "MICROSOFT_CLIENT_ID": "",
    "MICROSOFT_CLIENT_SECRET": "",
}
