"""The four calendar tables: integrations, the event cache, sync state, and client links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.crypto import EncryptedText
from proirp.kit.db import Base, IdMixin, TimestampMixin


class CalendarIntegration(IdMixin, TimestampMixin, Base):
    """A staff member's connected calendar account; tokens live only encrypted."""

    __tablename__ = "calendar_integrations"
    __table_args__ = (
        UniqueConstraint("user_id", "provider"),
        CheckConstraint("provider IN ('google', 'microsoft')", name="provider"),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    # The account's address at Google or Microsoft, encrypted (decision 0037): only ever shown.
    account_email: Mapped[str | None] = mapped_column(EncryptedText(320))
    scopes: Mapped[str | None] = mapped_column(Text)
    access_token: Mapped[str | None] = mapped_column(EncryptedText)
    refresh_token: Mapped[str | None] = mapped_column(EncryptedText)
    token_expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="active")
    # When it last moved to needs_reauth (cleared when connected again): an incident's start.
    needs_reauth_since: Mapped[datetime | None]


class SyncedCalendarEvent(IdMixin, TimestampMixin, Base):
    """The local copy of a provider event; titles and notes can name clients, so are encrypted."""

    __tablename__ = "synced_calendar_events"
    __table_args__ = (UniqueConstraint("integration_id", "provider_event_id"),)

    integration_id: Mapped[str] = mapped_column(
        ForeignKey("calendar_integrations.id", ondelete="CASCADE"), index=True
    )
    provider_event_id: Mapped[str] = mapped_column(String(255))
    calendar_id: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(EncryptedText)
    description: Mapped[str | None] = mapped_column(EncryptedText)
    location: Mapped[str | None] = mapped_column(EncryptedText)
    start_at: Mapped[datetime] = mapped_column(index=True)
    end_at: Mapped[datetime] = mapped_column(index=True)
    all_day: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    etag: Mapped[str | None] = mapped_column(String(255))
    provider_updated_at: Mapped[datetime | None]


class CalendarSyncStatus(IdMixin, TimestampMixin, Base):
    """Where an integration's sync stands: its token, its last success and error, and (after
    errors) when it may be tried again."""

    __tablename__ = "calendar_sync_status"

    integration_id: Mapped[str] = mapped_column(
        ForeignKey("calendar_integrations.id", ondelete="CASCADE"), unique=True
    )
    sync_token: Mapped[str | None] = mapped_column(Text)  # Google syncToken or Graph deltaLink
    last_full_sync_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_error_at: Mapped[datetime | None]
    events_synced: Mapped[int] = mapped_column(default=0)
    syncing_since: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(
        default=0, server_default="0"
    )  # in a row, since the last success
    retry_after: Mapped[datetime | None]  # no periodic sync before this (backoff)


APPOINTMENT_STATES = ("scheduled", "confirmed", "moved", "needs_attention", "cancelled")
ACTIVE_LINK = "gone_at IS NULL AND unlinked_at IS NULL"


class ClientCalendarEvent(IdMixin, TimestampMixin, Base):
    """An appointment: a client linked to a calendar event. Kept as history if the event goes.

    `state` is what staff and the client have said of it (`completed` is not stored: an
    appointment whose end has passed, not cancelled, is shown as completed)."""

    __tablename__ = "client_calendar_events"
    __table_args__ = (
        CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in APPOINTMENT_STATES) + ")", name="state"
        ),
        # One active appointment per event: two staff linking at once cannot both succeed.
        Index(
            "uq_client_calendar_events_active_event",
            "integration_id",
            "provider_event_id",
            unique=True,
            sqlite_where=text(ACTIVE_LINK),
            postgresql_where=text(ACTIVE_LINK),
        ),
    )

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    integration_id: Mapped[str | None] = mapped_column(
        ForeignKey("calendar_integrations.id", ondelete="SET NULL"), index=True
    )
    synced_event_id: Mapped[str | None] = mapped_column(
        ForeignKey("synced_calendar_events.id", ondelete="SET NULL")
    )
    provider: Mapped[str] = mapped_column(String(16))
    provider_event_id: Mapped[str] = mapped_column(String(255))
    start_at: Mapped[datetime | None]
    end_at: Mapped[datetime | None]
    gone_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16), default="scheduled", server_default="scheduled")
    state_changed_at: Mapped[datetime | None]
    # Staff can turn reminders off for one appointment.
    reminders_enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    unlinked_at: Mapped[datetime | None]


class OAuthState(IdMixin, Base):
    """One started connection: the `state` sent to the provider (kept only as a hash), who
    started it, its PKCE verifier, and when it expires. Used once."""

    __tablename__ = "oauth_states"

    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    code_verifier: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class CalendarCallSlot(Base):
    """One of an account's requests in flight, held by a process with QUEUE_BACKEND=postgres
    (calendars/call_slots.py): a lease renewed while the call runs, so a process that dies
    holding it frees it when `expires_at` passes."""

    __tablename__ = "calendar_call_slots"
    __table_args__ = (Index("ix_calendar_call_slots_key_expires_at", "key", "expires_at"),)

    lease_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(96))  # the provider and the integration
    expires_at: Mapped[datetime]


class CalendarPushChannel(IdMixin, TimestampMixin, Base):
    """A calendar's push channel at its provider (calendars/push.py): a Google `events.watch`
    channel or a Graph subscription, one per integration. The secret the provider sends back
    with each notification (Google's channel token, Graph's clientState) is kept only as a
    hash. `sync_requested_at` coalesces notifications: set by the first of a burst, cleared by
    the sync it queued."""

    __tablename__ = "calendar_push_channels"

    integration_id: Mapped[str] = mapped_column(
        ForeignKey("calendar_integrations.id", ondelete="CASCADE"), unique=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    # active: notifications flow; failed: could not be set up or renewed (polling every 5 min).
    state: Mapped[str] = mapped_column(String(16), default="active")
    channel_id: Mapped[str | None] = mapped_column(String(255), index=True)  # or subscription id
    resource_id: Mapped[str | None] = mapped_column(String(255))  # Google's X-Goog-Resource-ID
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    last_message_number: Mapped[int] = mapped_column(default=0, server_default="0")
    last_notified_at: Mapped[datetime | None]
    sync_requested_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    # No new attempt to set push up before this (after a failure).
    retry_at: Mapped[datetime | None]
