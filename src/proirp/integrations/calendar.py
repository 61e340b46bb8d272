"""What every calendar provider speaks (Google, Microsoft): our own types in and out.

Failures are the integrations' three kinds (temporary, permanent, ambiguous) plus two that the
calendar layer acts on: the grant is gone (sign in again), and the sync token is too old.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from proirp.integrations.base import ProviderPermanentError, ProviderTemporaryError


class GrantRevoked(ProviderPermanentError):
    """The refresh token (or the code) was refused: revoked, expired, or never valid.

    The integration needs the user to connect again (`needs_reauth`).
    """


class SyncTokenExpired(ProviderPermanentError):
    """The stored sync token is too old (a 410 from Google or Graph): sync in full again."""


class EventChangedAtProvider(ProviderPermanentError):
    """The event changed at the provider since we read it: our `If-Match` etag no longer matches
    (a 412). Nothing was changed; sync, then try again."""


class EventNotAtProvider(ProviderPermanentError):
    """The provider has no such event (404, or 410 for one already deleted)."""


class AccessTokenRefused(ProviderTemporaryError):
    """The provider refused an access token we thought valid (401): refresh it, then retry once."""


@dataclass(frozen=True)
class Authorization:
    """Where to send the user to consent, and what to keep (encrypted) until they come back:
    the PKCE verifier (Google), or msal's whole flow with its verifier and nonce (Microsoft)."""

    url: str
    flow: str


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    expires_at: datetime
    # Google does not send the refresh token again on refresh: None means "keep the old one".
    refresh_token: str | None = None
    scopes: tuple[str, ...] = ()


def token_set(
    provider: str, answer: dict[str, Any], scopes: tuple[str, ...], *, calendar_granted: bool
) -> TokenSet:
    """A token endpoint's answer as a TokenSet; refused if the user unticked calendar access."""
    if not calendar_granted:
        raise ProviderPermanentError(
            provider, "scope", "calendar access was not granted; allow it when connecting"
        )
    return TokenSet(
        access_token=str(answer["access_token"]),
        refresh_token=answer.get("refresh_token"),
        expires_at=datetime.now(UTC) + timedelta(seconds=int(answer.get("expires_in", 3600))),
        scopes=scopes,
    )


@dataclass(frozen=True)
class ProviderEvent:
    """An event as the provider has it, in our terms (times are aware, in UTC)."""

    id: str
    status: str  # confirmed, tentative, cancelled
    title: str | None = None
    description: str | None = None
    location: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    all_day: bool = False
    etag: str | None = None
    updated_at: datetime | None = None
    calendar_id: str | None = None
    # An instance of a recurring event: its series (Google's recurringEventId, Graph's
    # seriesMasterId) and where the series put it before any move (None when not known).
    series_id: str | None = None
    original_start_at: datetime | None = None


@dataclass(frozen=True)
class EventInput:
    title: str
    start_at: datetime
    end_at: datetime
    time_zone: str
    description: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class EventChange:
    """What to change in an event; a field left None stays as it is ("" clears a text field).
    `start_at` and `end_at` come together, with `time_zone` (the zone the event is shown in)."""

    title: str | None = None
    description: str | None = None
    location: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    time_zone: str | None = None


@dataclass
class Changes:
    """One sync's result: changed events (cancelled ones included), the next sync token, and how
    many API calls it took."""

    events: list[ProviderEvent] = field(default_factory=list)
    next_sync_token: str | None = None
    calls: int = 0


@dataclass(frozen=True)
class PushRequest:
    """A push channel to ask for: where the provider is to send notifications, the secret it
    sends back with each (Google's channel token, Graph's clientState), and until when."""

    channel_id: str  # ours for Google (the channel's id); Graph chooses its own
    address: str
    lifecycle_address: str
    secret: str
    expires_at: datetime


@dataclass(frozen=True)
class PushChannel:
    """A push channel as the provider made it: its id (Graph's subscription id), Google's
    resource id, and when it ends (the provider may shorten what was asked)."""

    id: str
    resource_id: str | None
    expires_at: datetime


class CalendarProvider(Protocol):
    name: str
    # Requests one account may have in flight at once (Outlook allows 4 per mailbox); None: any.
    max_in_flight: int | None
    # Whether `revoke` withdraws the grant at the provider. If not, `consent_removal` tells the
    # user where to remove the app's access themselves.
    can_revoke: bool
    consent_removal: str | None

    def start_authorization(self, *, state: str, redirect_uri: str) -> Authorization: ...

    def exchange_code(self, *, code: str, state: str, flow: str, redirect_uri: str) -> TokenSet: ...

    def account_email(self, access_token: str) -> str | None: ...

    def refresh(self, refresh_token: str) -> TokenSet: ...

    def revoke(self, token: str) -> None: ...

    def list_changes(
        self,
        access_token: str,
        *,
        sync_token: str | None,
        time_min: datetime,
        time_max: datetime,
    ) -> Changes: ...

    def create_event(self, access_token: str, event: EventInput) -> ProviderEvent: ...

    def update_event(
        self, access_token: str, event_id: str, change: EventChange, *, etag: str | None
    ) -> ProviderEvent:
        """Change the event (Google events.patch, Graph PATCH) only if it still has `etag`
        (`If-Match`); EventChangedAtProvider if it does not, EventNotAtProvider if it is gone."""

    def delete_event(self, access_token: str, event_id: str, *, etag: str | None) -> None:
        """Delete (cancel) the event, with `If-Match` as for update_event. An event already gone
        raises EventNotAtProvider."""

    def read_calendar(self, access_token: str) -> None:
        """One small read of the primary calendar (the next day's first event): proves the
        token and the calendar permission work. Raises a ProviderError if they do not."""

    # The longest a push channel may be asked to live (Google: a week; Graph's events: 10,080
    # minutes), and whether it can be renewed in place (Graph) or must be replaced (Google).
    max_push_lifetime: timedelta
    renews_in_place: bool

    def start_push(self, access_token: str, request: PushRequest) -> PushChannel:
        """Ask for notifications of changes to the primary calendar (Google events.watch,
        Graph POST /subscriptions, which first checks the address answers its handshake)."""

    def renew_push(
        self, access_token: str, channel: PushChannel, expires_at: datetime
    ) -> PushChannel:
        """Extend a channel (Graph PATCH /subscriptions/{id}); only where renews_in_place."""

    def stop_push(self, access_token: str, channel: PushChannel) -> None:
        """End a channel (Google channels.stop, Graph DELETE /subscriptions/{id}); one the
        provider no longer knows is ended already."""

    def close(self) -> None:
        """Close kept-alive connections (the process is stopping)."""
