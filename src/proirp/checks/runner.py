"""Run every provider's check in turn, then record in the audit log that the check ran."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.calendars.providers import close_providers
from proirp.checks.calendars import check_google, check_microsoft
from proirp.checks.messaging import check_sendgrid, check_twilio
from proirp.checks.report import Report
from proirp.checks.services import check_openai, check_stripe
from proirp.config import SECRET_FIELDS, Settings
from proirp.kit.db import transaction

log = structlog.get_logger(__name__)


def run_checks(
    settings: Settings,
    factory: sessionmaker[Session] | None,
    *,
    dry_run: bool,
    on_report: Callable[[Report], None] = lambda _: None,
) -> list[Report]:
    """Each provider's report, in the seed's order; `on_report` sees each as it is ready."""
    checks: list[tuple[Report, Callable[[], Report]]] = [
        (Report("Twilio", "Twilio (SMS)", "📱"), lambda: check_twilio(settings, dry_run=dry_run)),
        (
            Report("Sendgrid", "SendGrid (email)", "📧"),
            lambda: check_sendgrid(settings, dry_run=dry_run),
        ),
        (
            Report("GoogleCalendar", "Google Calendar", "📅"),
            lambda: check_google(settings, factory),
        ),
        (Report("Outlook", "Microsoft Outlook", "📅"), lambda: check_microsoft(settings, factory)),
        (Report("OpenAI", "OpenAI", "🤖"), lambda: check_openai(settings)),
        (Report("Stripe", "Stripe (payments)", "💳"), lambda: check_stripe(settings)),
    ]
    reports = []
    try:
        for stand_in, check in checks:
            try:
                report = check()
            except Exception as exc:
                # One provider's surprise must not end the run. The type only: an exception's
                # text could quote a setting.
                log.warning("checks.crashed", provider=stand_in.key, error=type(exc).__name__)
                report = stand_in
                report.fail(f"The check stopped on an unexpected {type(exc).__name__}")
            on_report(report)
            reports.append(report)
    finally:
        close_providers()
    return reports


def record_check(factory: sessionmaker[Session], reports: list[Report], *, dry_run: bool) -> bool:
    """An audit row naming each provider's status; False if the database would not take it."""
    details = {
        "dry_run": dry_run,
        "results": {report.key: report.status.value for report in reports},
        "test_messages_sent": [report.key for report in reports if report.test_sent],
    }
    try:
        with transaction(factory) as session:
            record_audit(
                session, actor=None, action=AuditAction.INTEGRATIONS_CHECKED, details=details
            )
    except SQLAlchemyError:
        log.warning("checks.not_recorded")
        return False
    return True


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, so that output can be scrubbed of them."""
    values: list[str] = []
    for name in SECRET_FIELDS:
        value = getattr(settings, name)
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                values.append(item.get_secret_value())
    return values
