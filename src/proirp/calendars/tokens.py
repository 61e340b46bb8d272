"""A usable access token for an integration, refreshed shortly before it expires.

Refresh is single-flight per integration: the refresh runs under a lock on the integration's
row (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE takes its write lock), and
whoever waited re-reads the row and finds the fresh token. So fifty concurrent requests cause
one refresh. A refused grant marks the integration `needs_reauth`, audited.

Microsoft rotates refresh tokens: each refresh answers with a new one. It is stored in the same
transaction as the access token, under the same lock, so the stored refresh token is always one
Microsoft issued; if that transaction fails, the old token (still valid) refreshes again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.calendars.models import CalendarIntegration
from proirp.calendars.providers import calendar_provider
from proirp.config import Settings
from proirp.integrations.calendar import AccessTokenRefused, GrantRevoked
from proirp.kit.db import transaction
from proirp.kit.errors import AppError
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
T = TypeVar("T")


class NeedsReauth(AppError):
    status_code = 409
    code = "calendar_needs_reauth"


def _fresh(integration: CalendarIntegration, settings: Settings) -> bool:
    margin = timedelta(seconds=settings.calendar_refresh_margin_seconds)
    expires = integration.token_expires_at
    return bool(integration.access_token) and expires is not None and expires - margin > utcnow()


def access_token(factory: sessionmaker[Session], settings: Settings, integration_id: str) -> str:
    """The integration's access token, refreshed first if it expires within the margin."""
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id)
        if integration is None or integration.status != "active":
            raise NeedsReauth("connect the calendar again: its access was withdrawn")
        if _fresh(integration, settings):
            return str(integration.access_token)
    try:
        return _refresh(factory, settings, integration_id)
    except SQLAlchemyError:
        # The provider refreshed, but its answer was not saved (the transaction rolled back).
        # Microsoft has already sent a new refresh token, yet keeps the old one valid: the old
        # one, still stored, refreshes again.
        log.warning("calendar.refresh_not_saved", integration_id=integration_id)
        return _refresh(factory, settings, integration_id)


def refresh_now(factory: sessionmaker[Session], settings: Settings, integration_id: str) -> str:
    """A new access token from the provider, however long the stored one has left (the
    integration check proves that refreshing works). Stored like any other refresh."""
    return _refresh(factory, settings, integration_id, force=True)


def _refresh(
    factory: sessionmaker[Session], settings: Settings, integration_id: str, *, force: bool = False
) -> str:
    revoked = False
    refusal = "no refresh token is stored"
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id, with_for_update=True)
        if integration is None or integration.status != "active":
            raise NeedsReauth("connect the calendar again: its access was withdrawn")
        if not force and _fresh(integration, settings):
            return str(integration.access_token)  # another request refreshed it meanwhile
        if not integration.refresh_token:
            revoked = True
        else:
            provider = calendar_provider(settings, integration.provider)
            try:
                tokens = provider.refresh(integration.refresh_token)
            except GrantRevoked as exc:
                revoked = True
                refusal = f"the provider refused the grant ({exc.code})"
            else:
                integration.access_token = tokens.access_token
                integration.token_expires_at = tokens.expires_at
                if tokens.refresh_token:  # Google keeps the old one; Microsoft sends a new one
                    integration.refresh_token = tokens.refresh_token
                log.info("calendar.token_refreshed", integration_id=integration_id)
                return tokens.access_token
        integration.status = "needs_reauth"
        integration.needs_reauth_since = utcnow()
        record_audit(
            session,
            actor=None,
            action=AuditAction.CALENDAR_AUTH_FAILED,
            details={
                "provider": integration.provider,
                "integration_id": integration.id,
                "reason": refusal,
            },
        )
    log.warning("calendar.needs_reauth", integration_id=integration_id, revoked=revoked)
    raise NeedsReauth(f"connect the calendar again: {refusal}")


def _forget(factory: sessionmaker[Session], integration_id: str, refused: str) -> None:
    """The provider refused this access token: make the next use refresh it (unless another
    request has already put a new one in its place)."""
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id, with_for_update=True)
        if integration is not None and integration.access_token == refused:
            integration.token_expires_at = utcnow()


def with_access_token(
    factory: sessionmaker[Session],
    settings: Settings,
    integration_id: str,
    call: Callable[[str], T],
) -> T:
    """`call(token)`; if the provider refuses the token (revoked, or expired before we thought),
    refresh it and call once more. A refresh that finds the grant gone raises NeedsReauth."""
    token = access_token(factory, settings, integration_id)
    try:
        return call(token)
    except AccessTokenRefused:
        log.info("calendar.access_token_refused", integration_id=integration_id)
        _forget(factory, integration_id, token)
        return call(access_token(factory, settings, integration_id))
