"""Connecting a calendar: the OAuth state (unguessable, single-use, short-lived, bound to the user
who started it, kept only as a hash), PKCE S256, and the callback that stores the tokens.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth.models import User
from proirp.calendars.models import CalendarIntegration, CalendarSyncStatus, OAuthState
from proirp.calendars.providers import calendar_provider, redirect_uri, unreachable_by_settings
from proirp.config import Settings
from proirp.integrations.availability import require_provider
from proirp.integrations.base import ProviderMisconfigured, ProviderTemporaryError
from proirp.integrations.calendar import TokenSet
from proirp.kit.errors import AppError, ServiceUnavailable
from proirp.kit.time import utcnow

STATE_LIFETIME = timedelta(minutes=10)


class ConnectRefused(AppError):
    """A callback that cannot be trusted or completed; the reason is safe to show."""

    status_code = 400
    code = "calendar_connect_refused"


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def start_connect(session: Session, user: User, provider: str, settings: Settings) -> str:
    """Record a new state and the provider's flow (its PKCE verifier); the URL to send the
    user to."""
    require_provider(settings, provider)
    state = secrets.token_urlsafe(32)
    try:
        started = calendar_provider(settings, provider).start_authorization(
            state=state, redirect_uri=redirect_uri(settings, provider)
        )
    except ProviderMisconfigured as exc:
        raise unreachable_by_settings(exc) from None
    except ProviderTemporaryError as exc:  # its sign-in configuration could not be read
        raise ServiceUnavailable(
            f"the calendar provider is unavailable; try again shortly ({exc.reason})",
            code="calendar_unavailable",
        ) from None
    now = utcnow()
    session.add(
        OAuthState(
            state_hash=_hash(state),
            user_id=user.id,
            provider=provider,
            code_verifier=started.flow,  # encrypted at rest, like tokens
            created_at=now,
            expires_at=now + STATE_LIFETIME,
        )
    )
    return started.url


def _audit_failure(
    session: Session, user: User, provider: str, reason: str, origin: RequestOrigin
) -> None:
    record_audit(
        session,
        actor=user.id,
        action=AuditAction.CALENDAR_AUTH_FAILED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"provider": provider, "reason": reason},
    )


def consume_state(
    session: Session, user: User, provider: str, state: str | None, origin: RequestOrigin
) -> OAuthState:
    """The state this user started for this provider, now used; ConnectRefused otherwise
    (audited). The caller commits even on refusal, so the audit row stays."""
    reason = None
    row = None
    if not state:
        reason = "the callback carried no state"
    else:
        row = session.scalar(select(OAuthState).where(OAuthState.state_hash == _hash(state)))
        if row is None:
            reason = "the state is not one this server issued"
        elif row.user_id != user.id:
            reason = "the state belongs to another user"
        elif row.provider != provider:
            reason = "the state was issued for another provider"
        elif row.used_at is not None:
            reason = "the state was already used"
        elif row.expires_at < utcnow():
            reason = "the state has expired"
    if reason is not None or row is None:
        _audit_failure(session, user, provider, reason or "bad state", origin)
        raise ConnectRefused(f"calendar connection refused: {reason}")
    row.used_at = utcnow()
    return row


def store_connection(
    session: Session,
    user: User,
    provider: str,
    tokens: TokenSet,
    account_email: str | None,
    origin: RequestOrigin,
) -> CalendarIntegration:
    """Create or renew the user's integration with these tokens (encrypted), audited."""
    integration = session.scalar(
        select(CalendarIntegration).where(
            CalendarIntegration.user_id == user.id, CalendarIntegration.provider == provider
        )
    )
    if integration is None:
        integration = CalendarIntegration(user_id=user.id, provider=provider)
        session.add(integration)
    integration.access_token = tokens.access_token
    if tokens.refresh_token:
        integration.refresh_token = tokens.refresh_token
    integration.token_expires_at = tokens.expires_at
    integration.account_email = account_email
    integration.scopes = " ".join(tokens.scopes) or None
    integration.status = "active"
    integration.needs_reauth_since = None
    session.flush()
    status = session.scalar(
        select(CalendarSyncStatus).where(CalendarSyncStatus.integration_id == integration.id)
    )
    if status is None:
        session.add(CalendarSyncStatus(integration_id=integration.id))
    else:
        status.sync_token = None  # a new grant starts with a full sync
        status.last_error = None
    record_audit(
        session,
        actor=user.id,
        action=AuditAction.CALENDAR_CONNECTED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"provider": provider, "integration_id": integration.id},
    )
    return integration


def record_denied(session: Session, user: User, provider: str, origin: RequestOrigin) -> None:
    _audit_failure(session, user, provider, "the user denied access", origin)


def record_failure(
    session: Session, user: User, provider: str, reason: str, origin: RequestOrigin
) -> None:
    """The provider refused to complete the connection (a reused code, a PKCE mismatch, …)."""
    _audit_failure(session, user, provider, reason[:200], origin)
