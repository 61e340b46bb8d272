"""Twilio and SendGrid: the credentials are accepted and, unless it is a dry run, one test
message goes to the operator's own phone or inbox (TEST_PHONE_NUMBER, TEST_EMAIL)."""

from __future__ import annotations

import binascii
import re

import phonenumbers
from cryptography.exceptions import UnsupportedAlgorithm
from email_validator import EmailNotValidError, validate_email
from sendgrid.helpers.eventwebhook import EventWebhook

from proirp.checks.report import Report, refusal, stand_in
from proirp.config import PHONE_EXAMPLE, Settings
from proirp.integrations.base import (
    EmailBatch,
    EmailRecipient,
    ProviderAmbiguousError,
    ProviderError,
)
from proirp.integrations.sendgrid.adapter import SendGridEmailSender
from proirp.integrations.twilio.adapter import TwilioSmsSender

ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
TEST_SMS = "Pro IRP integration check: SMS works. No reply needed."
TEST_SUBJECT = "Pro IRP integration check"
TEST_TEXT = "Email from Pro IRP works. This is a test sent by `proirp check-integrations`."
# The reference a test email carries in its events: it names no message of ours.
TEST_REFERENCE = "integration-check"


def baa(enabled: bool, variable: str, channel: str) -> str:
    if enabled:
        return f"signed ({variable}=true)"
    return f"not signed ({variable}=false): no PHI by {channel}"


def twilio_report(settings: Settings) -> Report:
    return Report(
        "Twilio",
        "Twilio (SMS)",
        "📱",
        baa=baa(settings.twilio_hipaa_enabled, "TWILIO_HIPAA_ENABLED", "SMS"),
    )


def sendgrid_report(settings: Settings) -> Report:
    return Report(
        "Sendgrid",
        "SendGrid (email)",
        "📧",
        baa=baa(settings.sendgrid_hipaa_enabled, "SENDGRID_HIPAA_ENABLED", "email"),
    )


def check_twilio(settings: Settings, *, dry_run: bool) -> Report:
    report = twilio_report(settings)
    if not settings.twilio_configured:
        report.not_configured(
            stand_in(settings, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are", "SMS")
        )
        return report
    if not ACCOUNT_SID.fullmatch(settings.twilio_account_sid or ""):
        report.fail("TWILIO_ACCOUNT_SID is not an Account SID (AC followed by 32 hex characters)")
        return report
    test_phone = _test_phone(settings.test_phone_number)
    if settings.test_phone_number and test_phone is None and not dry_run:
        report.fail(f"TEST_PHONE_NUMBER is not a phone number in E.164 form, e.g. {PHONE_EXAMPLE}")
    twilio = settings.twilio_connection()
    sender = TwilioSmsSender(
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        from_number=twilio.from_number,
        api_base=twilio.api_base,
        timeout=settings.send_timeout_seconds,
    )
    try:
        account = sender.account()
    except ProviderError as exc:
        report.fail(
            _not_the_api(exc, "TWILIO_API_BASE", twilio.api_base) or refusal(exc, twilio.api_base)
        )
        return report
    if account.status != "active":
        report.fail(f"Credentials accepted, but the account is {account.status}")
        return report
    trial = account.type == "Trial"
    report.ok(
        "Credentials accepted: the account is active"
        + (" (a trial account: it sends only to verified numbers)" if trial else "")
    )
    if not twilio.from_number:
        report.fail("TWILIO_PHONE_NUMBER is not set: messages would have no sender")
        return report
    if dry_run:
        report.skip("No test SMS (--dry-run)")
    elif not settings.test_phone_number:
        report.skip("No test SMS: set TEST_PHONE_NUMBER to your own mobile number to send one")
    elif test_phone is None:
        pass  # said above
    else:
        try:
            result = sender.send(test_phone, TEST_SMS, status_callback=None)
        except ProviderAmbiguousError:
            report.fail("The test SMS got no answer from Twilio: it may still arrive")
        except ProviderError as exc:
            report.fail(f"The test SMS was refused: {refusal(exc)}")
        else:
            report.ok("SMS sent successfully!", f"Message SID: {result.provider_message_id}")
            report.test_sent = True
    return report


def _not_the_api(exc: ProviderError, variable: str, address: str) -> str | None:
    """A 404 to a call every account may make: the address is not the provider's API."""
    if exc.code != "404":
        return None
    return f"{address} answered 404 (not found): is {variable} the provider's API address?"


def _test_phone(value: str | None) -> str | None:
    """TEST_PHONE_NUMBER in E.164, or None if it is not a phone number."""
    try:
        number = phonenumbers.parse(value or "", None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _test_email(value: str | None) -> str | None:
    try:
        return validate_email(value or "", check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def _webhook_key_problem(public_key: str | None) -> str | None:
    if not public_key:
        return "SENDGRID_WEBHOOK_PUBLIC_KEY is not set: SendGrid's delivery events will be refused"
    try:
        EventWebhook(public_key)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        return "SENDGRID_WEBHOOK_PUBLIC_KEY is not a verification key (one base64 line)"
    return None


def check_sendgrid(settings: Settings, *, dry_run: bool) -> Report:
    report = sendgrid_report(settings)
    if settings.sendgrid_api_key is None:
        report.not_configured(stand_in(settings, "SENDGRID_API_KEY is", "email"))
        return report
    sendgrid = settings.sendgrid_connection()
    if not sendgrid.api_key.startswith("SG."):
        report.fail("SENDGRID_API_KEY is not a SendGrid API key (they start with SG.)")
        return report
    sender = SendGridEmailSender(
        api_key=sendgrid.api_key, api_base=sendgrid.api_base, timeout=settings.send_timeout_seconds
    )
    try:
        scopes = sender.scopes()
    except ProviderError as exc:
        report.fail(
            _not_the_api(exc, "SENDGRID_API_BASE", sendgrid.api_base)
            or refusal(exc, sendgrid.api_base)
        )
        return report
    if "mail.send" not in scopes:
        report.fail("The API key was accepted but lacks Mail Send permission")
        return report
    report.ok("API key accepted, with Mail Send permission")
    problem = _webhook_key_problem(sendgrid.webhook_public_key)
    if problem:
        report.fail(problem)
    if not sendgrid.from_email:
        report.fail("SENDGRID_FROM_EMAIL is not set: messages would have no sender")
        return report
    test_email = _test_email(settings.test_email)
    if dry_run:
        report.skip("No test email (--dry-run)")
    elif not settings.test_email:
        report.skip("No test email: set TEST_EMAIL to your own address to send one")
    elif test_email is None:
        report.fail("TEST_EMAIL is not an email address")
    else:
        _send_test_email(report, sender, settings, sendgrid.from_email, test_email)
    return report


def _send_test_email(
    report: Report, sender: SendGridEmailSender, settings: Settings, from_email: str, to: str
) -> None:
    batch = EmailBatch(
        from_email=from_email,
        from_name=settings.sendgrid_from_name,
        recipients=[EmailRecipient(to=to, reference=TEST_REFERENCE)],
        subject=TEST_SUBJECT,
        text=TEST_TEXT,
    )
    try:
        result = sender.send(batch)[0]
    except ProviderAmbiguousError:
        report.fail("The test email got no answer from SendGrid: it may still arrive")
    except ProviderError as exc:
        report.fail(f"The test email was refused: {refusal(exc)}")
    else:
        report.ok("Email sent successfully!", f"Message ID: {result.provider_message_id}")
        report.test_sent = True
