"""`proirp sandbox env`: the `.env` lines that point every provider at a running `proirp
sandbox`. A new installation writes them to its `.env`, connects a calendar of each kind, and
`proirp check-integrations` finds every provider working; no secret of the installation's own
is ever printed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from proirp.config.sandbox_credentials import (
    SANDBOX_TWILIO_ACCOUNT_SID,
    SANDBOX_TWILIO_AUTH_TOKEN,
)
from proirp.kit.db import create_db_engine
from tests.calendars.dance import OUTLOOK_ACCOUNT, consent
from tests.conftest import TEST_KEYS
from tests.live import BIN, Process, create_user_with_token, free_port, wait_until

# Settings that would send a provider elsewhere than the sandbox being pointed at.
PROVIDER_SETTINGS = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_BASE",
    "SENDGRID_API_KEY",
    "SENDGRID_API_BASE",
    "GOOGLE_CLIENT_ID",
    "GOOGLE_CLIENT_SECRET",
    "MICROSOFT_CLIENT_ID",
    "MICROSOFT_CLIENT_SECRET",
    "MICROSOFT_AUTHORITY",
    "OPENAI_API_KEY",
    "STRIPE_SECRET_KEY",
)


def proirp(
    tmp_path: Path, env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`proirp <args>` run in `tmp_path`, where the installation's `.env` is."""
    return subprocess.run(  # noqa: S603 (our own console script)
        [str(BIN / "proirp"), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """A new installation's `.env` (its own ports, key and address, no provider at all) and a
    `proirp sandbox` started beside it; (the environment, the settings in its `.env`)."""
    app_port = free_port()
    base = f"http://127.0.0.1:{app_port}"
    settings = {
        "PROIRP_ENCRYPTION_KEYS": ",".join(TEST_KEYS),
        "QUEUE_NAME": "proirp-sandbox-env",
        "LOG_LEVEL": "WARNING",
        "PORT": str(app_port),
        "PUBLIC_BASE_URL": base,
        "GOOGLE_REDIRECT_URI": f"{base}/calendar/google/callback",
        "MICROSOFT_REDIRECT_URI": f"{base}/calendar/microsoft/callback",
        "SANDBOX_PORT": str(free_port()),
        "SANDBOX_TLS_PORT": str(free_port()),
        "SERVE_SANDBOX_TLS_PORT": str(free_port()),
    }
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    unset = {*PROVIDER_SETTINGS, *settings, "DATABASE_URL", "QUEUE_BACKEND", "PROIRP_DATA_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.pop("PYTEST_CURRENT_TEST", None)
    log = tmp_path / "sandbox.log"
    sandbox = Process("sandbox", [str(BIN / "proirp"), "sandbox"], env, log, cwd=tmp_path)
    sandbox.start()
    try:
        url = f"http://127.0.0.1:{settings['SANDBOX_PORT']}/"
        assert wait_until(lambda: answers(url), timeout=30), log.read_text()
        yield env, settings
    finally:
        sandbox.stop()


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def summary(output: str) -> dict[str, str]:
    """The check's summary: {"Twilio": "working", ...}."""
    found = {}
    for line in output.split("Test Results Summary:")[1].strip().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1][0].isupper():
            found[parts[1]] = "not configured" if parts[2] == "not" else parts[2]
    return found


def connect_calendars(tmp_path: Path, env: dict[str, str], base: str) -> None:
    """A clinician connects Google and Outlook through the product, as in a browser."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'var' / 'proirp.db'}")
    try:
        _user, token = create_user_with_token(engine, role="clinician")
    finally:
        engine.dispose()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as api:
        for provider, account in (
            ("google", "clinician@sandbox.example.com"),
            ("microsoft", OUTLOOK_ACCOUNT),
        ):
            auth_url = api.get(f"/calendar/{provider}/connect").json()["authUrl"]
            back = api.get(consent(auth_url, account=account))
            assert back.headers["location"].endswith("outcome=connected"), back.text


def test_the_printed_lines_make_every_provider_work(
    tmp_path: Path, installation: tuple[dict[str, str], dict[str, str]]
) -> None:
    env, settings = installation
    printed = proirp(tmp_path, env, "sandbox", "env").stdout
    for secret in TEST_KEYS:
        assert secret not in printed
    with (tmp_path / ".env").open("a") as dotenv:
        dotenv.write(printed)
    proirp(tmp_path, env, "db", "upgrade")
    base = settings["PUBLIC_BASE_URL"]
    with ExitStack() as stack:
        log = tmp_path / "serve.log"
        serve = Process("serve", [str(BIN / "proirp"), "serve"], env, log, cwd=tmp_path)
        serve.start()
        stack.callback(serve.stop)
        assert wait_until(lambda: answers(f"{base}/healthz"), timeout=30), log.read_text()
        health = httpx.get(f"{base}/healthz").json()
        assert set(health["providers"].values()) == {"configured"}, health
        connect_calendars(tmp_path, env, base)
        result = proirp(tmp_path, env, "check-integrations", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(result.stdout) == {
        "Twilio": "working",
        "Sendgrid": "working",
        "GoogleCalendar": "working",
        "Outlook": "working",
        "OpenAI": "working",
        "Stripe": "working",
        # The sandbox stands in for no S3 bucket: the audit trail stays on the machine.
        "S3": "not configured",
    }, result.stdout
    assert "❌" not in result.stdout


def test_it_prints_the_sandboxs_own_credentials_and_none_of_the_installations(
    tmp_path: Path, installation: tuple[dict[str, str], dict[str, str]]
) -> None:
    env, settings = installation
    own = {
        **env,
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "the-practices-real-twilio-token",
        "SENDGRID_API_KEY": "SG.real.the-practices-real-sendgrid-key",
        "OPENAI_API_KEY": "sk-the-practices-real-openai-key",
    }
    printed = proirp(tmp_path, own, "sandbox", "env").stdout
    lines = dict(
        line.split("=", 1) for line in printed.splitlines() if line and not line.startswith("#")
    )
    assert lines["TWILIO_ACCOUNT_SID"] == SANDBOX_TWILIO_ACCOUNT_SID
    assert lines["TWILIO_AUTH_TOKEN"] == SANDBOX_TWILIO_AUTH_TOKEN
    sandbox = f"http://127.0.0.1:{settings['SANDBOX_PORT']}"
    assert lines["TWILIO_API_BASE"] == f"{sandbox}/twilio"
    assert lines["MICROSOFT_AUTHORITY"] == (
        f"https://127.0.0.1:{settings['SANDBOX_TLS_PORT']}/microsoft/login/common"
    )
    assert Path(lines["MICROSOFT_CA_BUNDLE"]) == (tmp_path / "var/sandbox-tls/ca.pem").resolve()
    for value in ("1" * 32, "real-twilio", "real-sendgrid", "real-openai", *TEST_KEYS):
        assert value not in printed


def test_a_sandbox_started_with_real_credentials_gets_its_addresses_only(
    tmp_path: Path, installation: tuple[dict[str, str], dict[str, str]]
) -> None:
    """Such a sandbox accepts the credentials of its own `.env`, not its published ones: the
    lines leave the credentials to that `.env` and never print them."""
    env, _settings = installation
    port = free_port()
    real = {**env, "TWILIO_ACCOUNT_SID": "AC" + "2" * 32, "TWILIO_AUTH_TOKEN": "real-token-22"}
    log = tmp_path / "other-sandbox.log"
    args = [str(BIN / "proirp"), "sandbox", "--port", str(port), "--tls-port", str(free_port())]
    other = Process("other", args, real, log, cwd=tmp_path)
    other.start()
    try:
        assert wait_until(lambda: answers(f"http://127.0.0.1:{port}/"), timeout=30)
        url = f"http://127.0.0.1:{port}"
        printed = proirp(tmp_path, env, "sandbox", "env", "--url", url).stdout
    finally:
        other.stop()
    assert f"TWILIO_API_BASE={url}/twilio" in printed
    assert "TWILIO_ACCOUNT_SID=" not in printed and "TWILIO_AUTH_TOKEN=" not in printed
    assert "2" * 32 not in printed and "real-token-22" not in printed
    assert f"SENDGRID_API_BASE={url}/sendgrid" in printed  # its SendGrid takes its own key


def test_no_sandbox_at_the_address_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST",)}
    url = f"http://127.0.0.1:{free_port()}"
    result = proirp(tmp_path, env, "sandbox", "env", "--url", url, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "proirp sandbox" in result.stderr, result.stderr
    assert url in result.stderr and "Traceback" not in result.stderr
