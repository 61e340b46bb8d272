"""Run every provider's check in turn, then record in the audit log that the check ran."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.calendars.providers import close_providers
from proirp.checks.calendars import check_google, check_microsoft, google_report, microsoft_report
from proirp.checks.messaging import check_sendgrid, check_twilio, sendgrid_report, twilio_report
from proirp.checks.report import Report
from proirp.checks.services import check_openai, check_stripe, openai_report, stripe_report
from proirp.checks.storage import check_s3, s3_report
from proirp.config import Settings
from proirp.kit.db import transaction

log = structlog.get_logger(__name__)


def run_checks(
    settings: Settings,
    factory: sessionmaker[Session] | None,
    *,
    dry_run: bool,
    on_report: Callable[[Report], None] = lambda _: None,
) -> list[Report]:
    """Each provider's report, in the Node version's order; `on_report` sees each as it is ready."""
    # Each check, with the heading its report has even if the check itself fails.
    checks: list[tuple[Callable[[Settings], Report], Callable[[], Report]]] = [
        (twilio_report, lambda: check_twilio(settings, dry_run=dry_run)),
        (sendgrid_report, lambda: check_sendgrid(settings, dry_run=dry_run)),
        (google_report, lambda: check_google(settings, factory)),
        (microsoft_report, lambda: check_microsoft(settings, factory)),
        (openai_report, lambda: check_openai(settings)),
        (stripe_report, lambda: check_stripe(settings)),
        (s3_report, lambda: check_s3(settings)),
    ]
    reports = []
    try:
        for heading, check in checks:
            try:
                report = check()
            except Exception as exc:
                # One provider's surprise must not end the run. The type only: an exception's
                # text could quote a setting.
                report = heading(settings)
                log.warning("checks.crashed", provider=report.key, error=type(exc).__name__)
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
    return [value for _name, value in settings.secrets()]
