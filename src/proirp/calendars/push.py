"""Calendars by push: a Google `events.watch` channel or a Graph subscription per connected
calendar, set up after connecting, renewed before it expires, stopped at disconnect. Each is
audited (ids and times only: never the channel's secret). When push cannot be set up (no https
PUBLIC_BASE_URL for a real provider, CALENDAR_PUSH off, or the provider refused), the calendar
is polled every 5 minutes, as without push; `proirp check-integrations` says why.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.auth.models import User
from proirp.calendars.models import CalendarIntegration, CalendarPushChannel
from proirp.calendars.providers import calendar_provider
from proirp.calendars.tokens import NeedsReauth, with_access_token
from proirp.config import Settings
from proirp.integrations.base import ProviderError
from proirp.integrations.calendar import (
    CalendarProvider,
    EventNotAtProvider,
    PushChannel,
    PushRequest,
)
from proirp.kit.db import transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)

GOOGLE_PATH = "/webhooks/google/calendar"
MICROSOFT_PATH = "/webhooks/microsoft/calendar"
MICROSOFT_LIFECYCLE_PATH = "/webhooks/microsoft/calendar/lifecycle"
# Renew a channel when it has less than this left (channels live up to a week).
RENEW_BEFORE = timedelta(days=1)
# Ask for a little less than the provider's longest lifetime (clocks differ).
LIFETIME_MARGIN = timedelta(minutes=10)
# After a failure to set push up, try again no sooner than this (polling meanwhile).
RETRY_AFTER_FAILURE = timedelta(hours=1)
REAL_HOSTS = {"google": "googleapis.com", "microsoft": "graph.microsoft.com"}
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(stored_hash: str | None, given: str | None) -> bool:
    """Whether `given` is the channel's secret (compared in constant time, as hashes)."""
    if not stored_hash or given is None:
        return False
    return hmac.compare_digest(stored_hash, secret_hash(given))


def _api_host(settings: Settings, provider: str) -> str:
    if provider == "google":
        return urlsplit(settings.google_connection().api_base).hostname or ""
    return urlsplit(settings.microsoft_connection().graph_base).hostname or ""


def unavailable_reason(settings: Settings, provider: str) -> str | None:
    """Why push cannot be set up for `provider` with these settings (None: it can). The real
    Google and Microsoft deliver notifications only to a public https:// address; the sandbox
    to any."""
    if not settings.calendar_push:
        return "CALENDAR_PUSH is off"
    real = _api_host(settings, provider).endswith(REAL_HOSTS[provider])
    base = urlsplit(settings.base_url)
    if real and (base.scheme != "https" or base.hostname in LOOPBACK):
        return "PUBLIC_BASE_URL is not a public https:// address the provider can reach"
    return None


def addresses(settings: Settings, provider: str) -> tuple[str, str]:
    """Where the provider posts notifications, and Graph's lifecycle notifications."""
    if provider == "google":
        return settings.base_url + GOOGLE_PATH, settings.base_url + GOOGLE_PATH
    return settings.base_url + MICROSOFT_PATH, settings.base_url + MICROSOFT_LIFECYCLE_PATH


def channel_of(session: Session, integration_id: str) -> CalendarPushChannel | None:
    return session.scalar(
        select(CalendarPushChannel).where(CalendarPushChannel.integration_id == integration_id)
    )


def _as_channel(row: CalendarPushChannel) -> PushChannel | None:
    if row.channel_id is None or row.expires_at is None:
        return None
    return PushChannel(id=row.channel_id, resource_id=row.resource_id, expires_at=row.expires_at)


def _audit(
    session: Session, action: AuditAction, integration: CalendarIntegration, **details: object
) -> None:
    record_audit(
        session,
        actor=None,
        action=action,
        details={"integration_id": integration.id, "provider": integration.provider, **details},
    )


def _failed(factory: sessionmaker[Session], integration_id: str, reason: str) -> None:
    """Push is not working for this calendar: it is polled every 5 minutes meanwhile."""
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id)
        if integration is None:
            return
        row = channel_of(session, integration_id)
        if row is None:
            row = CalendarPushChannel(integration_id=integration_id, provider=integration.provider)
            session.add(row)
        changed = row.state != "failed" or row.last_error != reason[:300]
        row.state = "failed"
        row.last_error = reason[:300]
        row.retry_at = utcnow() + RETRY_AFTER_FAILURE
        if changed:
            _audit(session, AuditAction.CALENDAR_PUSH_STOPPED, integration, reason=reason[:300])
    log.warning("calendar.push_unavailable", integration_id=integration_id, reason=reason)


def _lifetime(adapter: CalendarProvider) -> datetime:
    return utcnow() + adapter.max_push_lifetime - LIFETIME_MARGIN


def start(factory: sessionmaker[Session], settings: Settings, integration_id: str) -> bool:
    """Set up push for a calendar (replacing a channel it already has); False when it could
    not be (the calendar is polled)."""
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id)
        if integration is None or integration.status != "active":
            return False
        provider_name = integration.provider
        row = channel_of(session, integration_id)
        old = _as_channel(row) if row is not None and row.state == "active" else None
    reason = unavailable_reason(settings, provider_name)
    if reason is not None:
        _failed(factory, integration_id, reason)
        return False
    adapter = calendar_provider(settings, provider_name)
    address, lifecycle = addresses(settings, provider_name)
    secret = secrets.token_urlsafe(32)
    request = PushRequest(
        channel_id=uuid.uuid4().hex,
        address=address,
        lifecycle_address=lifecycle,
        secret=secret,
        expires_at=_lifetime(adapter),
    )
    try:
        made = with_access_token(
            factory, settings, integration_id, lambda token: adapter.start_push(token, request)
        )
    except NeedsReauth:
        return False
    except ProviderError as exc:
        _failed(factory, integration_id, f"the provider refused push: {exc.reason}")
        return False
    stopped_now = _keep(factory, integration_id, made, secret, old)
    for ending in (old, stopped_now):
        if ending is not None:
            _stop_quietly(factory, settings, integration_id, adapter, ending)
    log.info("calendar.push_started", integration_id=integration_id, provider=provider_name)
    return True


def _keep(
    factory: sessionmaker[Session],
    integration_id: str,
    made: PushChannel,
    secret: str,
    old: PushChannel | None,
) -> PushChannel | None:
    """Store (and audit) the channel just made; returns it if the calendar was disconnected
    meanwhile (to be stopped), else None."""
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id)
        if integration is None:
            return made
        row = channel_of(session, integration_id)
        if row is None:
            row = CalendarPushChannel(integration_id=integration_id, provider=integration.provider)
            session.add(row)
        row.state = "active"
        row.channel_id, row.resource_id = made.id, made.resource_id
        row.secret_hash = secret_hash(secret)
        row.expires_at = made.expires_at
        row.last_message_number = 0
        row.last_error = None
        row.retry_at = None
        _audit(
            session,
            AuditAction.CALENDAR_PUSH_RENEWED if old else AuditAction.CALENDAR_PUSH_STARTED,
            integration,
            channel_id=made.id,
            expires_at=made.expires_at.isoformat(),
            replaced=old.id if old else None,
        )
    return None


def _stop_quietly(
    factory: sessionmaker[Session],
    settings: Settings,
    integration_id: str,
    adapter: CalendarProvider,
    channel: PushChannel,
) -> None:
    try:
        with_access_token(
            factory, settings, integration_id, lambda token: adapter.stop_push(token, channel)
        )
    except (ProviderError, NeedsReauth) as exc:
        # It ends on its own when it expires; notifications for it meanwhile are refused (404).
        log.info(
            "calendar.push_stop_failed", integration_id=integration_id, error=type(exc).__name__
        )


def renew(factory: sessionmaker[Session], settings: Settings, integration_id: str) -> bool:
    """Extend the calendar's channel before it expires (Graph: in place, which also answers
    reauthorizationRequired; Google: a new channel, then the old one stopped)."""
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id)
        row = channel_of(session, integration_id)
        if integration is None or row is None or row.state != "active":
            return start(factory, settings, integration_id) if integration else False
        provider_name = integration.provider
        current = _as_channel(row)
    adapter = calendar_provider(settings, provider_name)
    if current is None or not adapter.renews_in_place:
        return start(factory, settings, integration_id)
    until = _lifetime(adapter)
    try:
        renewed = with_access_token(
            factory,
            settings,
            integration_id,
            lambda token: adapter.renew_push(token, current, until),
        )
    except EventNotAtProvider:
        return start(factory, settings, integration_id)  # the provider removed it: a new one
    except NeedsReauth:
        return False
    except ProviderError as exc:
        _failed(factory, integration_id, f"the provider refused to renew push: {exc.reason}")
        return False
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id)
        row = channel_of(session, integration_id)
        if integration is None or row is None:
            return False
        row.expires_at = renewed.expires_at
        _audit(
            session,
            AuditAction.CALENDAR_PUSH_RENEWED,
            integration,
            channel_id=renewed.id,
            expires_at=renewed.expires_at.isoformat(),
        )
    return True


def stop_at_disconnect(
    session: Session, settings: Settings, integration: CalendarIntegration, token: str | None
) -> None:
    """End the calendar's channel at the provider (best effort: one that cannot be stopped
    expires on its own, and its notifications are refused), audited, and forget it."""
    row = channel_of(session, integration.id)
    if row is None:
        return
    channel = _as_channel(row)
    stopped = False
    if channel is not None and row.state == "active" and token:
        try:
            calendar_provider(settings, integration.provider).stop_push(token, channel)
            stopped = True
        except ProviderError as exc:
            log.info("calendar.push_stop_failed", integration_id=integration.id, error=exc.code)
        _audit(
            session,
            AuditAction.CALENDAR_PUSH_STOPPED,
            integration,
            channel_id=channel.id,
            confirmed=stopped,
        )
    session.delete(row)


def due_for_upkeep(session: Session) -> tuple[list[str], list[str]]:
    """(calendars whose push should be set up now, calendars whose channel should be renewed);
    a disabled member of staff's calendars are left alone, as by the sync."""
    now = utcnow()
    stmt = (
        select(CalendarIntegration.id, CalendarPushChannel)
        .join(User, User.id == CalendarIntegration.user_id)
        .outerjoin(
            CalendarPushChannel, CalendarPushChannel.integration_id == CalendarIntegration.id
        )
        .where(CalendarIntegration.status == "active", User.is_active.is_(True))
    )
    to_start, to_renew = [], []
    for integration_id, row in session.execute(stmt):
        if row is None or row.state != "active":
            if row is None or row.retry_at is None or row.retry_at <= now:
                to_start.append(integration_id)
        elif row.expires_at is None or row.expires_at - RENEW_BEFORE <= now:
            to_renew.append(integration_id)
    return to_start, to_renew


def healthy(row: CalendarPushChannel | None) -> bool:
    """Whether notifications can be expected for the calendar (an active, unexpired channel)."""
    return bool(
        row is not None
        and row.state == "active"
        and row.expires_at is not None
        and row.expires_at > utcnow()
    )
