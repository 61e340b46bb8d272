"""`proirp check-integrations` as an operator runs it: a real process, against the provider
sandbox over real HTTP, with calendars connected through the product."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from proirp.audit.models import AuditLog
from proirp.calendars.models import CalendarIntegration
from proirp.config.sandbox_credentials import SANDBOX_OPENAI_API_KEY, SANDBOX_STRIPE_SECRET_KEY
from tests.calendars.dance import connect, query_of, wait_for_sync
from tests.live import BIN, LiveStack, live_stack
from tests.s3_server import S3Server

TEST_PHONE = "+12025550143"
TEST_EMAIL = "operator@lakeside.example.com"
SECRETS = (
    "TWILIO_AUTH_TOKEN",
    "SENDGRID_API_KEY",
    "GOOGLE_CLIENT_SECRET",
    "MICROSOFT_CLIENT_SECRET",
    "OPENAI_API_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "PROIRP_ENCRYPTION_KEYS",
    "AWS_SECRET_ACCESS_KEY",
)
WRONG = {
    "TWILIO_AUTH_TOKEN": "wrong-twilio-auth-token-0001",
    "SENDGRID_API_KEY": "SG.wrong-key.wrong-sendgrid-secret",
    "GOOGLE_CLIENT_SECRET": "wrong-google-client-secret",
    "MICROSOFT_CLIENT_SECRET": "wrong-microsoft-client-secret",
    "OPENAI_API_KEY": "sk-wrong-openai-key-000000000000",
    "STRIPE_SECRET_KEY": "sk_test_wrongstripekey0000000000",
    "AUDIT_ANCHOR_S3_BUCKET": "no-such-bucket-here",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[LiveStack]:
    settings = {
        **s3_server.environment(s3_server.bucket()),
        "TEST_PHONE_NUMBER": TEST_PHONE,
        "TEST_EMAIL": TEST_EMAIL,
        "OPENAI_API_KEY": SANDBOX_OPENAI_API_KEY,
        "STRIPE_SECRET_KEY": SANDBOX_STRIPE_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_sandboxpublishablekey",
        "STRIPE_WEBHOOK_SECRET": "whsec_sandboxsigningsecret",
        "TWILIO_HIPAA_ENABLED": "true",
    }
    with live_stack(tmp_path_factory.mktemp("check"), settings=settings) as stack:
        stack.env |= {
            "OPENAI_API_BASE": f"{stack.sandbox_url}/openai/v1",
            "STRIPE_API_BASE": f"{stack.sandbox_url}/stripe",
        }
        for provider in ("google", "microsoft"):
            answer = connect(stack, provider=provider)
            assert query_of(answer.headers["location"])["outcome"] == "connected"
        wait_for_sync(stack)
        yield stack


def run_check(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it, from a folder with no .env of its own."""
    return subprocess.run(  # noqa: S603 (our own console script)
        [str(BIN / "proirp"), "check-integrations", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def check(live: LiveStack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_check({**live.env, **env}, live.tmp, *args)


def summary(output: str) -> dict[str, str]:
    """The summary's lines: {"Twilio": "working", ...}."""
    lines = output.split("Test Results Summary:")[1].strip().splitlines()
    found = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[1][0].isupper():
            status = "not configured" if parts[2] == "not" else parts[2]
            found[parts[1]] = status
    return found


def assert_no_secret(output: str, env: dict[str, str]) -> None:
    for name in SECRETS:
        for value in filter(None, env.get(name, "").split(",")):
            assert value not in output, f"{name} appears in the output"


def test_against_the_sandbox_every_line_passes(live: LiveStack) -> None:
    result = check(live)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert summary(result.stdout) == {
        "Twilio": "working",
        "Sendgrid": "working",
        "GoogleCalendar": "working",
        "Outlook": "working",
        "OpenAI": "working",
        "Stripe": "working",
        "S3": "working",
    }, result.stdout
    assert "❌" not in result.stdout
    assert "Every configured integration works." in result.stdout
    # The test SMS went to the operator's phone; the SID printed is the one Twilio gave it.
    sms = [m for m in live.ledger() if m["to"] == TEST_PHONE]
    assert len(sms) == 1
    assert f"Message SID: {sms[0]['sid']}" in result.stdout
    emails = [m for m in live.email_ledger() if TEST_EMAIL in str(m)]
    assert len(emails) == 1
    assert "Email sent successfully!" in result.stdout
    assert "Message ID: " in result.stdout
    # Each connected calendar was refreshed and read.
    assert "clinician@sandbox.example.com: token refreshed, calendar read" in result.stdout
    assert "clinician@lakeside.onmicrosoft.com: token refreshed, calendar read" in result.stdout
    # The BAA flags stand beside the providers.
    assert "BAA: signed (TWILIO_HIPAA_ENABLED=true)" in result.stdout
    assert "BAA: not signed (SENDGRID_HIPAA_ENABLED=false): no PHI by email" in result.stdout
    assert_no_secret(output, live.env)
    with live.session() as session:
        audit = session.scalars(
            select(AuditLog).where(AuditLog.action == "INTEGRATIONS_CHECKED")
        ).all()[-1]
    assert audit.details["results"]["Twilio"] == "working"
    assert sorted(audit.details["test_messages_sent"]) == ["Sendgrid", "Twilio"]


def test_a_dry_run_sends_nothing(live: LiveStack) -> None:
    sent_before, emails_before = len(live.ledger()), len(live.email_ledger())
    result = check(live, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No test SMS (--dry-run)" in result.stdout
    assert "No test email (--dry-run)" in result.stdout
    assert len(live.ledger()) == sent_before
    assert len(live.email_ledger()) == emails_before
    assert set(summary(result.stdout).values()) == {"working"}


def test_credentials_the_sandbox_rejects_fail_with_the_providers_reason(live: LiveStack) -> None:
    result = check(live, **WRONG)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert set(summary(result.stdout).values()) == {"failing"}, result.stdout
    assert "Twilio refused our credentials" in result.stdout
    assert "(error 20003)" in result.stdout
    assert "SendGrid refused the API key" in result.stdout
    assert "Google refused the sign-in (invalid_client)" in result.stdout
    assert "check GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET" in result.stdout
    assert "AADSTS7000215" in result.stdout
    assert "OpenAI refused OPENAI_API_KEY (HTTP 401, invalid_api_key)" in result.stdout
    assert "Stripe refused STRIPE_SECRET_KEY (HTTP 401)" in result.stdout
    assert "bucket no-such-bucket-here: the bucket does not exist" in result.stdout
    assert "integrations failing" in result.stdout
    assert_no_secret(output, {**live.env, **WRONG})
    # The SDKs' own logs of the refusals (which quote part of the key) are held back.
    assert "Invalid API Key provided" not in result.stderr
    assert "Incorrect API key provided" not in result.stderr
    # A refused client is the app's fault, not the clinician's: their calendars stay connected.
    with live.session() as session:
        statuses = set(session.scalars(select(CalendarIntegration.status)))
    assert statuses == {"active"}


def test_an_address_that_is_not_the_providers_api_is_named(live: LiveStack) -> None:
    wrong = f"{live.sandbox_url}/twillio"
    result = check(live, "--dry-run", TWILIO_API_BASE=wrong)
    assert result.returncode == 1
    assert f"{wrong} answered 404 (not found): is TWILIO_API_BASE" in result.stdout


def test_a_revoked_calendar_fails_and_names_the_account(live: LiveStack) -> None:
    with live.google() as google:
        google.post("/revoke", json={"account": "clinician@sandbox.example.com"})
    result = check(live, "--dry-run")
    assert result.returncode == 1, result.stdout
    assert summary(result.stdout)["GoogleCalendar"] == "failing"
    assert summary(result.stdout)["Outlook"] == "working"
    assert "clinician@sandbox.example.com: connect the calendar again" in result.stdout
    assert "invalid_grant" in result.stdout


def test_nothing_configured_says_so(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PROIRP_DATA_DIR": str(tmp_path / "var"),
    }
    result = run_check(env, tmp_path, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(summary(result.stdout).values()) == {"not configured"}
    assert "Nothing is configured" in result.stdout
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set" in result.stdout
