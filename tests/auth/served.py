"""`proirp serve` as an operator runs it, one or more processes on one database of their own (the
kind DATABASE_URL names), for the sign-in tests that need real sockets and real processes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.auth.secrets import hash_password
from proirp.kit.db import create_db_engine
from proirp.migrations.commands import upgrade
from tests.conftest import TEST_KEYS
from tests.databases import fresh_database
from tests.factories import PASSWORD
from tests.live import BIN, Process, free_port, wait_until

# Every provider configured (never called here): no sandbox, uvicorn's own server.
NO_SANDBOX = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "t" * 32,
    "SENDGRID_API_KEY": "SG.a.b",
    "GOOGLE_CLIENT_ID": "1-a.apps.googleusercontent.com",
    "GOOGLE_CLIENT_SECRET": "s" * 24,
    "MICROSOFT_CLIENT_ID": "5a4db0c5-0000-4000-8000-00000000a11e",
    "MICROSOFT_CLIENT_SECRET": "s" * 24,
}


@dataclass
class Served:
    urls: list[str]
    engine: Engine

    def add_user(self, email: str) -> None:
        with Session(self.engine) as session:
            session.add(User(email=email, role="staff", password_hash=hash_password(PASSWORD)))
            session.commit()

    def log_in(
        self, email: str, password: str = PASSWORD, *, via: int = 0, forwarded: str | None = None
    ) -> httpx.Response:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        body = {"email": email, "password": password}
        return httpx.post(f"{self.urls[via]}/auth/login", json=body, headers=headers, timeout=60)

    def audit_ips(self, action: str) -> list[str | None]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
            )
            return [row.ip for row in rows]


@contextmanager
def served(
    tmp: Path, *, instances: int = 1, settings: dict[str, str] | None = None
) -> Iterator[Served]:
    """`instances` processes of `proirp serve` sharing one fresh, migrated database."""
    kind = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    with ExitStack() as stack:
        url = stack.enter_context(fresh_database(kind, tmp))
        upgrade(url)
        engine = create_db_engine(url)
        stack.callback(engine.dispose)
        env = {
            **os.environ,
            "PROIRP_ENV": "test",
            "PROIRP_DATA_DIR": str(tmp),
            "PROIRP_ENCRYPTION_KEYS": ",".join(TEST_KEYS),
            "DATABASE_URL": url,
            "QUEUE_BACKEND": os.environ.get("QUEUE_BACKEND", "sqlite"),
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
            "QUEUE_NAME": f"proirp-auth-{uuid.uuid4().hex[:8]}",
            "LOG_LEVEL": "WARNING",
            **NO_SANDBOX,
            **(settings or {}),
        }
        env.pop("PYTEST_CURRENT_TEST", None)
        if settings is None or "FORWARDED_ALLOW_IPS" not in settings:
            env.pop("FORWARDED_ALLOW_IPS", None)
        processes = []
        for index in range(instances):
            port = free_port()
            args = [str(BIN / "proirp"), "serve", "--port", str(port), "--no-embedded-worker"]
            process = Process(f"serve{index}", args, env, tmp / f"serve{index}.log")
            process.start()
            stack.callback(process.stop)
            processes.append((process, f"http://127.0.0.1:{port}"))
        for process, base in processes:
            # Generous: on a busy machine, importing the product alone can take many seconds.
            if not wait_until(partial(_up, process, base), timeout=120, interval=0.2):
                raise AssertionError(
                    f"{process.name} did not come up: {process.log_path.read_text()}"
                )
            if process.popen is None or process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited: {process.log_path.read_text()}")
        yield Served([base for _, base in processes], engine)


def _up(process: Process, base: str) -> bool:
    """Answering /healthz, or exited (nothing to wait for)."""
    if process.popen is None or process.popen.poll() is not None:
        return True
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
