"""What `check-integrations` finds from the settings alone, before it calls any provider: the
mistakes an operator makes in `.env`, each named with the variable to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from proirp.checks import runner
from proirp.checks.calendars import check_google, check_microsoft
from proirp.checks.messaging import check_sendgrid, check_twilio
from proirp.checks.report import Renderer, Report, Status, exit_status
from proirp.checks.services import check_openai, check_stripe
from proirp.config import Settings
from tests.conftest import make_settings
from tests.live import free_port

GOOGLE_ID = "1234-abc.apps.googleusercontent.com"
MICROSOFT_ID = "5a4db0c5-0000-4000-8000-00000000a11e"


def settings(tmp_path: Path, **values: object) -> Settings:
    return make_settings(tmp_path, **values)


def texts(report: Report) -> str:
    return "\n".join(line.text for line in report.lines)


def test_a_production_server_says_an_unconfigured_provider_is_off(tmp_path: Path) -> None:
    found = settings(
        tmp_path,
        proirp_env="production",
        proirp_encryption_keys="k" * 44,
        audit_chain_keys="a" * 43,
    )
    report = check_twilio(found, dry_run=True)
    assert report.status is Status.NOT_CONFIGURED
    assert "SMS is off on this server (production never uses the sandbox)" in texts(report)


def test_a_test_phone_number_that_is_not_one_fails_the_check(tmp_path: Path) -> None:
    # It does not stop the server (the settings load); the check says what is wrong.
    found = settings(
        tmp_path,
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="t" * 32,
        twilio_phone_number="+15005550006",
        twilio_api_base=f"http://127.0.0.1:{free_port()}",
        test_phone_number="2025550143x",
    )
    report = check_twilio(found, dry_run=False)
    assert report.status is Status.FAILING
    assert "TEST_PHONE_NUMBER is not a phone number in E.164 form" in texts(report)


def test_an_unreachable_provider_is_named_with_the_address_tried(tmp_path: Path) -> None:
    port = free_port()
    found = settings(
        tmp_path, sendgrid_api_key="SG.a.b", sendgrid_api_base=f"http://127.0.0.1:{port}"
    )
    report = check_sendgrid(found, dry_run=True)
    assert report.status is Status.FAILING
    assert f"SendGrid could not be reached at http://127.0.0.1:{port}" in texts(report)


def test_one_check_crashing_does_not_end_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(_: Settings) -> Report:
        raise RuntimeError("a surprise")

    monkeypatch.setattr(runner, "check_openai", crash)
    reports = runner.run_checks(settings(tmp_path), None, dry_run=True)
    assert [r.key for r in reports] == [
        "Twilio",
        "Sendgrid",
        "GoogleCalendar",
        "Outlook",
        "OpenAI",
        "Stripe",
        "S3",
    ]
    assert reports[4].status is Status.FAILING
    assert "unexpected RuntimeError" in texts(reports[4])
    assert "a surprise" not in texts(reports[4])
    assert reports[5].status is Status.NOT_CONFIGURED


def test_an_api_key_sid_is_not_an_account_sid(tmp_path: Path) -> None:
    found = settings(tmp_path, twilio_account_sid="SK" + "1" * 32, twilio_auth_token="t" * 32)
    report = check_twilio(found, dry_run=True)
    assert report.status is Status.FAILING
    assert "TWILIO_ACCOUNT_SID is not an Account SID" in texts(report)


def test_a_sendgrid_key_must_look_like_one(tmp_path: Path) -> None:
    report = check_sendgrid(settings(tmp_path, sendgrid_api_key="not-a-key"), dry_run=True)
    assert report.status is Status.FAILING
    assert "they start with SG." in texts(report)


def test_the_redirect_uri_must_be_the_one_public_base_url_makes(tmp_path: Path) -> None:
    found = settings(
        tmp_path,
        public_base_url="https://irp.lakeside.example.com",
        google_client_id=GOOGLE_ID,
        google_client_secret="s" * 24,
    )
    report = check_google(found, None)
    assert report.status is Status.FAILING
    assert (
        "GOOGLE_REDIRECT_URI is http://localhost:8080/calendar/google/callback, but "
        "PUBLIC_BASE_URL makes it https://irp.lakeside.example.com/calendar/google/callback"
    ) in texts(report)


def test_a_plain_http_redirect_is_refused_beyond_localhost(tmp_path: Path) -> None:
    found = settings(
        tmp_path,
        public_base_url="http://irp.lakeside.example.com",
        microsoft_client_id=MICROSOFT_ID,
        microsoft_client_secret="s" * 24,
        microsoft_redirect_uri="http://irp.lakeside.example.com/calendar/microsoft/callback",
    )
    report = check_microsoft(found, None)
    assert "MICROSOFT_REDIRECT_URI must be https://" in texts(report)


def test_a_redirect_uri_with_a_trailing_slash_is_not_the_registered_one(tmp_path: Path) -> None:
    found = settings(
        tmp_path,
        google_client_id=GOOGLE_ID,
        google_client_secret="s" * 24,
        google_redirect_uri="http://localhost:8080/calendar/google/callback/",
    )
    assert "GOOGLE_REDIRECT_URI is http://localhost:8080/calendar/google/callback/, but" in texts(
        check_google(found, None)
    )


def test_matching_calendar_settings_pass_and_say_no_calendar_was_checked(tmp_path: Path) -> None:
    found = settings(tmp_path, google_client_id=GOOGLE_ID, google_client_secret="s" * 24)
    report = check_google(found, None)
    assert "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are set and well-formed" in texts(report)
    assert "the database could not be opened" in texts(report)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"google_client_id": "1234-abc", "google_client_secret": "s"}, "not an OAuth client id"),
    ],
)
def test_google_credentials_must_be_whole_and_well_formed(
    tmp_path: Path, values: dict[str, str], problem: str
) -> None:
    report = check_google(settings(tmp_path, **values), None)
    assert report.status is Status.FAILING
    assert problem in texts(report)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"microsoft_client_id": "lakeside-app"}, "not an Application (client) ID"),
        (
            {"microsoft_client_id": MICROSOFT_ID, "microsoft_ca_bundle": "/nowhere/ca.pem"},
            "MICROSOFT_CA_BUNDLE names no file (/nowhere/ca.pem)",
        ),
        (
            {"microsoft_client_id": MICROSOFT_ID, "microsoft_tenant_id": "not a tenant"},
            "MICROSOFT_TENANT_ID is not a tenant",
        ),
    ],
)
def test_microsoft_ids_must_be_well_formed(
    tmp_path: Path, values: dict[str, str], problem: str
) -> None:
    report = check_microsoft(settings(tmp_path, microsoft_client_secret="s" * 24, **values), None)
    assert report.status is Status.FAILING
    assert problem in texts(report)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (
            {"stripe_secret_key": "sk_test_abc", "stripe_publishable_key": "pk_live_abc"},
            "STRIPE_PUBLISHABLE_KEY is a live-mode key but STRIPE_SECRET_KEY a test-mode one",
        ),
        ({"stripe_secret_key": "pk_test_abc"}, "STRIPE_SECRET_KEY is not a secret key"),
        ({"stripe_publishable_key": "pk_test_abc"}, "STRIPE_SECRET_KEY is not set"),
        (
            {"stripe_secret_key": "sk_test_abc", "stripe_webhook_secret": "abc"},
            "STRIPE_WEBHOOK_SECRET is not a signing secret",
        ),
    ],
)
def test_stripe_keys_must_be_a_pair_from_one_mode(
    tmp_path: Path, values: dict[str, str], problem: str
) -> None:
    report = check_stripe(settings(tmp_path, **values))
    assert report.status is Status.FAILING
    assert problem in texts(report)


def test_an_openai_key_must_look_like_one(tmp_path: Path) -> None:
    report = check_openai(settings(tmp_path, openai_api_key="openai-key"))
    assert report.status is Status.FAILING
    assert "they start with sk-" in texts(report)


def test_nothing_configured_is_not_a_failure(tmp_path: Path) -> None:
    reports = [
        check_twilio(settings(tmp_path), dry_run=False),
        check_sendgrid(settings(tmp_path), dry_run=False),
        check_google(settings(tmp_path), None),
        check_microsoft(settings(tmp_path), None),
        check_openai(settings(tmp_path)),
        check_stripe(settings(tmp_path)),
    ]
    assert {report.status for report in reports} == {Status.NOT_CONFIGURED}
    assert exit_status(reports) == 0
    assert "Nothing is configured" in Renderer([]).summary(reports)


def test_one_failure_makes_the_exit_status_non_zero() -> None:
    working, failing = Report("A", "A", "*"), Report("B", "B", "*")
    working.ok("accepted")
    failing.ok("accepted")
    failing.fail("refused")
    assert (working.status, failing.status) == (Status.WORKING, Status.FAILING)
    assert exit_status([working]) == 0
    assert exit_status([working, failing]) == 1


def test_settings_checked_but_nothing_called_is_configured_not_working() -> None:
    report = Report("A", "A", "*")
    report.passed("well-formed")
    assert report.status is Status.CONFIGURED


def test_output_never_shows_a_secret_and_falls_back_to_plain_marks() -> None:
    report = Report("Twilio", "Twilio (SMS)", "*")
    report.fail("the provider said: token super-secret-token-1 is wrong")
    renderer = Renderer(["super-secret-token-1", "short"], encoding="ascii")
    text = renderer.section(report) + renderer.summary([report])
    assert "super-secret-token-1" not in text
    assert "[hidden]" in text
    assert "[FAIL]" in text
    text.encode("ascii")
