"""Google Calendar and Outlook: the app's credentials are present and well-formed, the redirect
URI is the one PUBLIC_BASE_URL makes; and for every connected account, a token refresh and one
read of its calendar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from proirp.calendars.models import CalendarIntegration, CalendarPushChannel
from proirp.calendars.providers import calendar_provider
from proirp.calendars.push import unavailable_reason
from proirp.calendars.tokens import NeedsReauth, refresh_now
from proirp.checks.report import Report, refusal, stand_in
from proirp.config import Settings
from proirp.integrations.base import ProviderError
from proirp.kit.db import transaction

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TENANT_NAMES = frozenset({"common", "organizations", "consumers"})
DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})

# What to do about the codes a wrong app registration earns.
HINTS = {
    "invalid_client": "check {id} and {secret}",
    "unauthorized_client": "check {id} and {secret}",
    "AADSTS7000215": "{secret} is wrong (use the secret's Value, not its ID)",
    "AADSTS7000222": "{secret} has expired: make a new one in the Azure portal",
    "AADSTS700016": "{id} is not an app in this tenant",
    "AADSTS90002": "MICROSOFT_TENANT_ID names no tenant",
}


@dataclass(frozen=True)
class CalendarApp:
    provider: str  # google | microsoft
    label: str  # Google | Microsoft
    id_variable: str
    credential_variable: str
    redirect_variable: str
    client_id: str | None
    has_secret: bool
    redirect_uri: str
    id_problem: str | None


def google_app(settings: Settings) -> CalendarApp:
    client_id = settings.google_client_id
    well_formed = bool(client_id and client_id.endswith(".apps.googleusercontent.com"))
    return CalendarApp(
        provider="google",
        label="Google",
        id_variable="GOOGLE_CLIENT_ID",
        credential_variable="GOOGLE_CLIENT_SECRET",
        redirect_variable="GOOGLE_REDIRECT_URI",
        client_id=client_id,
        has_secret=settings.google_client_secret is not None,
        redirect_uri=str(settings.google_redirect_uri),
        id_problem=None
        if well_formed
        else "GOOGLE_CLIENT_ID is not an OAuth client id (…apps.googleusercontent.com)",
    )


def microsoft_app(settings: Settings) -> CalendarApp:
    client_id = settings.microsoft_client_id
    tenant = settings.microsoft_tenant_id
    problem = None
    bundle = settings.microsoft_ca_bundle
    if bundle is not None and not bundle.is_file():
        # (The sandbox makes its own when it starts, so start-up cannot insist on it.)
        problem = f"MICROSOFT_CA_BUNDLE names no file ({bundle}): a PEM CA bundle is expected"
    elif not GUID.fullmatch(client_id or ""):
        problem = "MICROSOFT_CLIENT_ID is not an Application (client) ID (a GUID)"
    elif not (tenant in TENANT_NAMES or GUID.fullmatch(tenant) or DOMAIN.fullmatch(tenant)):
        problem = (
            "MICROSOFT_TENANT_ID is not a tenant: a Directory (tenant) ID, a domain, "
            "or common / organizations / consumers"
        )
    return CalendarApp(
        provider="microsoft",
        label="Microsoft",
        id_variable="MICROSOFT_CLIENT_ID",
        credential_variable="MICROSOFT_CLIENT_SECRET",
        redirect_variable="MICROSOFT_REDIRECT_URI",
        client_id=client_id,
        has_secret=settings.microsoft_client_secret is not None,
        redirect_uri=str(settings.microsoft_redirect_uri),
        id_problem=problem,
    )


def google_report(_: Settings) -> Report:
    baa = "the practice's with Google Workspace (not tracked here)"
    return Report("GoogleCalendar", "Google Calendar", "📅", baa=baa)


def microsoft_report(_: Settings) -> Report:
    baa = "the practice's with Microsoft 365 (not tracked here)"
    return Report("Outlook", "Microsoft Outlook", "📅", baa=baa)


def check_google(settings: Settings, factory: sessionmaker[Session] | None) -> Report:
    return _check(google_report(settings), google_app(settings), settings, factory)


def check_microsoft(settings: Settings, factory: sessionmaker[Session] | None) -> Report:
    return _check(microsoft_report(settings), microsoft_app(settings), settings, factory)


def _check(
    report: Report, app: CalendarApp, settings: Settings, factory: sessionmaker[Session] | None
) -> Report:
    if not app.client_id or not app.has_secret:
        variables = f"{app.id_variable} and {app.credential_variable} are"
        report.not_configured(stand_in(settings, variables, f"{app.label}'s calendar"))
        return report
    if app.id_problem:
        report.fail(app.id_problem)
        return report
    redirect_ok = _check_redirect(report, app, settings)
    if redirect_ok:
        report.passed(
            f"{app.id_variable} and {app.credential_variable} are set and well-formed; "
            f"{app.redirect_variable} matches PUBLIC_BASE_URL"
        )
    _check_push(report, app, settings)
    if factory is None:
        report.fail("Connected calendars not checked: the database could not be opened")
        return report
    _check_accounts(report, app, settings, factory)
    return report


def _check_push(report: Report, app: CalendarApp, settings: Settings) -> None:
    reason = unavailable_reason(settings, app.provider)
    if reason is None:
        report.passed(
            f"Push: {app.label} tells the product of each change at "
            f"{settings.base_url}/webhooks/{app.provider}/calendar (polled once a day besides)"
        )
    else:
        report.skip(f"Push is not set up ({reason}): calendars are polled every 5 minutes")


def _push_state(session: Session, integration_id: str) -> str:
    row = session.scalar(
        select(CalendarPushChannel).where(CalendarPushChannel.integration_id == integration_id)
    )
    if row is None:
        return "push not set up yet, polled every 5 minutes"
    if row.state == "active" and row.expires_at is not None:
        return f"push active until {row.expires_at:%Y-%m-%d %H:%M} UTC"
    return f"push failed ({row.last_error or 'unknown'}), polled every 5 minutes"


def _check_redirect(report: Report, app: CalendarApp, settings: Settings) -> bool:
    expected = f"{settings.base_url}/calendar/{app.provider}/callback"
    if app.redirect_uri != expected:
        report.fail(
            f"{app.redirect_variable} is {app.redirect_uri}, but PUBLIC_BASE_URL makes it "
            f"{expected}: make them agree, and register that address with {app.label}"
        )
        return False
    parts = urlsplit(app.redirect_uri)
    if parts.scheme != "https" and parts.hostname not in LOOPBACK:
        report.fail(
            f"{app.redirect_variable} must be https:// ({app.label} accepts plain http only "
            "for localhost)"
        )
        return False
    return True


def _check_accounts(
    report: Report, app: CalendarApp, settings: Settings, factory: sessionmaker[Session]
) -> None:
    try:
        with transaction(factory) as session:
            accounts = session.execute(
                select(
                    CalendarIntegration.id,
                    CalendarIntegration.account_email,
                    CalendarIntegration.status,
                )
                .where(CalendarIntegration.provider == app.provider)
                .order_by(CalendarIntegration.created_at)
            ).all()
            pushing = {row[0]: _push_state(session, row[0]) for row in accounts}
    except SQLAlchemyError:
        report.fail("Connected calendars not checked: the database could not be read")
        return
    if not accounts:
        report.skip(
            "No calendar is connected yet: connect one to check signing in and reading events"
        )
        return
    for integration_id, email, status in accounts:
        who = email or f"calendar {integration_id}"
        if status != "active":
            report.fail(f"{who}: must be connected again (its access was withdrawn)")
            continue
        try:
            token = refresh_now(factory, settings, integration_id)
            calendar_provider(settings, app.provider).read_calendar(token)
        except NeedsReauth as exc:
            report.fail(f"{who}: {exc.message}")
        except ProviderError as exc:
            hint = HINTS.get(exc.code or "", "").format(
                id=app.id_variable, secret=app.credential_variable
            )
            report.fail(f"{who}: {refusal(exc)}" + (f": {hint}" if hint else ""))
        else:
            report.ok(f"{who}: token refreshed, calendar read; {pushing[integration_id]}")
