"""`proirp serve` as an operator runs it: it starts, logs its routers, answers /healthz, and stops
cleanly on SIGTERM even with the worker running inside it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import httpx

from tests.conftest import TEST_AUDIT_KEYS, TEST_KEYS
from tests.live import BIN, free_port, wait_until

PASSWORD = "correct-horse-battery-staple"  # a test account's


def serve_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A migrated SQLite installation in `tmp_path`; the environment to run it with."""
    env = {
        **os.environ,
        "PROIRP_DATA_DIR": str(tmp_path),
        "PROIRP_ENCRYPTION_KEYS": ",".join(TEST_KEYS),
        "AUDIT_CHAIN_KEYS": ",".join(TEST_AUDIT_KEYS),
        "QUEUE_BACKEND": "sqlite",
        "QUEUE_NAME": "proirp-serve-test",
        "SERVE_SANDBOX_TLS_PORT": str(free_port()),
        **settings,
    }
    env.pop("DATABASE_URL", None)
    subprocess.run([str(BIN / "proirp"), "db", "upgrade"], env=env, check=True, cwd=tmp_path)  # noqa: S603
    return env


def start_serve(tmp_path: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """`proirp serve` logging to serve.log; returns once /healthz answers."""
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [str(BIN / "proirp"), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_until(healthy, timeout=30, interval=0.2):
        process.kill()
        raise AssertionError((tmp_path / "serve.log").read_text())
    return process


def test_serve_starts_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = serve_env(tmp_path)
    create = [str(BIN / "proirp"), "users", "create", "--email", "frontdesk@clinic.example.com"]
    subprocess.run(  # noqa: S603
        [*create, "--role", "staff", "--password", PASSWORD], env=env, check=True, cwd=tmp_path
    )
    process = start_serve(tmp_path, env, port)
    try:
        # Reach the sandbox's Microsoft over serve's TLS listener (msal keeps the connection).
        base = f"http://127.0.0.1:{port}"
        login = {"email": "frontdesk@clinic.example.com", "password": PASSWORD}
        token = httpx.post(f"{base}/auth/login", json=login).json()["token"]
        connect = httpx.get(
            f"{base}/calendar/microsoft/connect", headers={"Authorization": f"Bearer {token}"}
        )
        assert "/sandbox/microsoft/login/" in connect.json()["authUrl"]
        process.send_signal(signal.SIGTERM)
        # Uvicorn shuts down gracefully, then re-raises the signal to exit with it.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
    output = (tmp_path / "serve.log").read_text()
    assert "[router] mounted /clients -> proirp.clients" in output
    assert "[router] mounted /sandbox -> proirp.sandbox" in output
    assert "worker.embedded_started" in output
    assert "Application shutdown complete" in output
    assert "ERROR" not in output  # every listener stopped within its grace period


def test_the_access_log_keeps_no_query_string(tmp_path: Path) -> None:
    """Query strings carry a search for a client's name, or an OAuth code: the access log
    records the request without them."""
    port = free_port()
    env = serve_env(
        tmp_path,
        LOG_LEVEL="INFO",
        # Every provider configured: no sandbox, uvicorn's own server and access log.
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_AUTH_TOKEN="t" * 32,
        SENDGRID_API_KEY="SG.a.b",
        GOOGLE_CLIENT_ID="1-a.apps.googleusercontent.com",
        GOOGLE_CLIENT_SECRET="s" * 24,
        MICROSOFT_CLIENT_ID="5a4db0c5-0000-4000-8000-00000000a11e",
        MICROSOFT_CLIENT_SECRET="s" * 24,
    )
    process = start_serve(tmp_path, env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        httpx.get(f"{base}/clients", params={"q": "Quinn"})
        httpx.get(f"{base}/calendar/google/callback", params={"code": "4/0AbSecretCode"})
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    output = (tmp_path / "serve.log").read_text()
    assert "http.request" in output and "method=GET path=/clients" in output
    assert "path=/calendar/{provider}/callback" in output
    assert "Quinn" not in output
    assert "SecretCode" not in output


def test_production_never_lets_the_sandbox_stand_in(tmp_path: Path) -> None:
    """A production server without a provider's credentials refuses what needs it, plainly;
    it never sends to the sandbox (whose credentials are published) or serves it."""
    port = free_port()
    env = serve_env(
        tmp_path,
        PROIRP_ENV="production",
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_AUTH_TOKEN="t" * 32,
        TWILIO_PHONE_NUMBER="+15005550006",
    )
    create = [str(BIN / "proirp"), "users", "create", "--email", "frontdesk@clinic.example.com"]
    subprocess.run(  # noqa: S603
        [*create, "--role", "staff", "--password", PASSWORD], env=env, check=True, cwd=tmp_path
    )
    process = start_serve(tmp_path, env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        answer = httpx.get(f"{base}/healthz")
        # Browsers are told to reach the service over https only (it sits behind TLS).
        assert answer.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
        health = answer.json()
        assert health["mode"] == "live"
        assert health["providers"] == {
            "twilio": "configured",
            "sendgrid": "not configured",
            "google": "not configured",
            "microsoft": "not configured",
        }
        assert httpx.get(f"{base}/sandbox/twilio/_sandbox/ledger").status_code == 404
        login = {"email": "frontdesk@clinic.example.com", "password": PASSWORD}
        token = httpx.post(f"{base}/auth/login", json=login).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        email = {"client_id": "c1", "type": "email", "subject": "Hello", "body": "Office closed."}
        refused = httpx.post(f"{base}/comms", json=email, headers=bearer)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "provider_not_configured"
        assert "SENDGRID_API_KEY" in refused.json()["error"]["message"]
        connect = httpx.get(f"{base}/calendar/google/connect", headers=bearer)
        assert connect.status_code == 503
        assert "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET" in connect.json()["error"]["message"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def _audit_and_anchors(tmp_path: Path) -> tuple[int, list[int]]:
    """The newest audit row's id, and the rows anchored so far (oldest first)."""
    with sqlite3.connect(tmp_path / "proirp.db") as db:
        newest = db.execute("SELECT max(id) FROM audit_logs").fetchone()[0]
    anchors = (tmp_path / "audit" / "anchors").read_text().splitlines()
    return newest, [json.loads(line)["row_id"] for line in anchors]


def _anchored_installation(tmp_path: Path) -> dict[str, str]:
    """An installation whose audit log is anchored up to its head, and whose worker will not
    anchor again for a day: only stopping a process anchors what comes next."""
    env = serve_env(tmp_path, AUDIT_ANCHOR_INTERVAL_MINUTES="1440")
    create = [str(BIN / "proirp"), "users", "create", "--email", "frontdesk@clinic.example.com"]
    subprocess.run(  # noqa: S603
        [*create, "--role", "staff", "--password", PASSWORD], env=env, check=True, cwd=tmp_path
    )
    subprocess.run([str(BIN / "proirp"), "audit", "anchor"], env=env, check=True, cwd=tmp_path)  # noqa: S603
    return env


def test_serve_anchors_the_audit_log_when_it_stops(tmp_path: Path) -> None:
    env = _anchored_installation(tmp_path)
    port = free_port()
    process = start_serve(tmp_path, env, port)
    try:
        login = {"email": "frontdesk@clinic.example.com", "password": PASSWORD}
        assert httpx.post(f"http://127.0.0.1:{port}/auth/login", json=login).status_code == 200
        newest, anchored = _audit_and_anchors(tmp_path)
        assert anchored[-1] < newest, "the sign-in is not anchored yet"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()

    newest, anchored = _audit_and_anchors(tmp_path)
    assert anchored[-1] == newest
    verified = subprocess.run(  # noqa: S603
        [str(BIN / "proirp"), "audit", "verify"], env=env, cwd=tmp_path, capture_output=True
    )
    assert verified.returncode == 0, verified.stderr
    assert f"holds the anchor of row {newest}" in verified.stdout.decode()


def test_the_worker_anchors_the_audit_log_when_it_stops(tmp_path: Path) -> None:
    env = _anchored_installation(tmp_path)
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [str(BIN / "proirp"), "worker"], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        started = wait_until(
            lambda: "consumer started" in (tmp_path / "worker.log").read_text(), timeout=30
        )
        assert started, (tmp_path / "worker.log").read_text()
        create = [str(BIN / "proirp"), "users", "create", "--email", "nurse@clinic.example.com"]
        subprocess.run(  # noqa: S603
            [*create, "--role", "clinician", "--password", PASSWORD], env=env, check=True
        )
        newest, anchored = _audit_and_anchors(tmp_path)
        assert anchored[-1] < newest
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, (tmp_path / "worker.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()

    newest, anchored = _audit_and_anchors(tmp_path)
    assert anchored[-1] == newest
