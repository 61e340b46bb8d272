"""Communications (one row per message), their status history, templates and campaigns."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from proirp.clients.identity import keyed_address, search_key
from proirp.kit.crypto import EncryptedJSON, EncryptedText
from proirp.kit.db import Base, IdMixin, TimestampMixin


class CommunicationStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"  # by staff while still queued: it was never sent
    RECEIVED = "received"  # an inbound message: the client sent it to us


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Purpose(enum.StrEnum):
    """Why the product itself sent a message (None: staff or a campaign sent it)."""

    SAFETY_REPLY = "safety_reply"  # the answer to an urgent inbound message
    AFTER_HOURS_REPLY = "after_hours_reply"  # the answer to a message outside office hours
    URGENT_ALERT = "urgent_alert"  # an email to the on-call address
    STAFF_NOTICE = "staff_notice"  # an email to staff about the product itself


class CampaignStatus(enum.StrEnum):
    """Where a campaign is (the API shows "finished" once it has fanned out and none of its
    messages is still queued or sending)."""

    SCHEDULED = "scheduled"  # waiting for its send_at
    QUEUED = "queued"  # its fan-out job is queued
    FANNING_OUT = "fanning_out"
    SENDING = "sending"  # fanned out
    CANCELLED = "cancelled"  # by staff before its fan-out began


_STATUSES = ", ".join(f"'{status.value}'" for status in CommunicationStatus)
INBOUND = "direction = 'inbound'"
UNMATCHED = "direction = 'inbound' AND client_id IS NULL"


class Template(IdMixin, TimestampMixin, Base):
    __tablename__ = "templates"
    __table_args__ = (CheckConstraint("channel IN ('sms', 'email')", name="channel"),)

    name: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)  # email only: the HTML part
    # [{"name": "client.first_name", "phi": true}, ...]
    variables: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sendgrid_template_id: Mapped[str | None] = mapped_column(String(64))
    created_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    archived_at: Mapped[datetime | None]


class Campaign(IdMixin, TimestampMixin, Base):
    __tablename__ = "campaigns"
    __table_args__ = (CheckConstraint("channel IN ('sms', 'email')", name="channel"),)

    name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(8))
    template_id: Mapped[str | None] = mapped_column(ForeignKey("templates.id"))
    created_by_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str | None] = mapped_column(EncryptedText)
    body: Mapped[str | None] = mapped_column(EncryptedText)
    html: Mapped[str | None] = mapped_column(EncryptedText)
    # Who gets it: {"client_ids": [...]} or {"filter": {...}}; expanded by the worker.
    # Who it goes to, as staff chose them (ids, or a filter with the words typed), encrypted.
    selection: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    total: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.QUEUED)
    send_at: Mapped[datetime | None]  # when staff scheduled it to start; None: at once
    fanned_out_at: Mapped[datetime | None]


class Communication(IdMixin, TimestampMixin, Base):
    __tablename__ = "communications"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'email')", name="channel"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        CheckConstraint("direction IN ('outbound', 'inbound')", name="direction"),
        Index("ix_communications_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_communications_provider_message_id", "provider", "provider_message_id"),
        # An inbound message is stored once, however often Twilio retries its webhook.
        Index(
            "uq_communications_inbound_message",
            "provider",
            "provider_message_id",
            unique=True,
            sqlite_where=text(INBOUND),
            postgresql_where=text(INBOUND),
        ),
        Index("ix_communications_client_id_created_at", "client_id", "created_at"),
        # The lists' filters, then their newest-first order (migration 0022).
        Index("ix_communications_status_created_at", "status", "created_at", "id"),
        Index("ix_communications_campaign_created_at", "campaign_id", "created_at", "id"),
        # The inbox finds a conversation's messages, and counts them again, in group order by
        # this (recounting reads each message's row too, for its encrypted number).
        Index(
            "ix_communications_inbound_conversations",
            "client_id",
            "from_hash",
            "created_at",
            "id",
            sqlite_where=text(INBOUND),
            postgresql_where=text(INBOUND),
        ),
        # The inbound messages no client matched, newest first (GET /inbox/unmatched): a page
        # is the first entries of this, however many the other conversations hold.
        Index(
            "ix_communications_unmatched_inbound",
            "created_at",
            "id",
            sqlite_where=text(UNMATCHED),
            postgresql_where=text(UNMATCHED),
        ),
        Index("ix_communications_from_hash", "from_hash"),
        # One message per client per campaign, so a fan-out that runs twice adds nobody twice.
        UniqueConstraint("campaign_id", "client_id"),
    )

    client_id: Mapped[str | None] = mapped_column(ForeignKey("clients.id"), index=True)
    # Who sent it; None for an inbound message and for what the product sends by itself.
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    direction: Mapped[str] = mapped_column(
        String(8), default=Direction.OUTBOUND, server_default=Direction.OUTBOUND.value
    )
    purpose: Mapped[str | None] = mapped_column(String(24))  # see Purpose
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    template_id: Mapped[str | None] = mapped_column(ForeignKey("templates.id"))
    channel: Mapped[str] = mapped_column(String(8))
    # Encrypted; found by their keyed hashes (decision 0036), which the listener below writes.
    to_address: Mapped[str] = mapped_column(EncryptedText(320))
    from_address: Mapped[str | None] = mapped_column(EncryptedText(320))  # inbound: who wrote
    to_hash: Mapped[str] = mapped_column(String(32))
    from_hash: Mapped[str | None] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(EncryptedText)
    body: Mapped[str] = mapped_column(EncryptedText)
    body_html: Mapped[str | None] = mapped_column(EncryptedText)
    # Email in a batch: this recipient's SendGrid substitutions, as JSON (they can be PHI).
    substitutions: Mapped[str | None] = mapped_column(EncryptedText)
    status: Mapped[str] = mapped_column(String(16), default=CommunicationStatus.QUEUED)
    status_reason: Mapped[str | None] = mapped_column(String(300))
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    error_code: Mapped[str | None] = mapped_column(String(32))
    segments: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    send_at: Mapped[datetime | None]  # when staff scheduled it for; None: at once
    claimed_at: Mapped[datetime | None]
    # Email: when the provider call for this claim began (None: the claim never reached it, so
    # a stale row was never sent and may go again). SMS leaves it None: a stale SMS is looked up.
    call_started_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


def address_hashes(key: bytes, channel: str, to: str, sender: str | None) -> dict[str, Any]:
    """The keyed hashes a message's addresses are found by (decision 0036), under the
    database's key (`identity.search_key`): a number hashes as an opt-out's and a client's
    phone do, an email address as an opt-out's (case and surrounding space aside). For the
    writers that insert messages without the ORM; the ORM's are hashed by the listener below."""
    return {
        "to_hash": keyed_address(key, channel, to),
        "from_hash": None if sender is None else keyed_address(key, channel, sender),
    }


@event.listens_for(Communication, "before_insert")
def _hash_addresses(_mapper: Mapper[Any], db: Connection, comm: Communication) -> None:
    hashes = address_hashes(search_key(db), comm.channel, comm.to_address, comm.from_address)
    comm.to_hash, comm.from_hash = hashes["to_hash"], hashes["from_hash"]


@event.listens_for(Communication, "before_update")
def _hash_changed(_mapper: Mapper[Any], db: Connection, comm: Communication) -> None:
    attrs = inspect(comm).attrs
    if any(attrs[name].history.has_changes() for name in ("to_address", "from_address", "channel")):
        _hash_addresses(_mapper, db, comm)


class CommunicationEvent(IdMixin, Base):
    """One step in a communication's status history (ours or the provider's)."""

    __tablename__ = "communication_events"

    communication_id: Mapped[str] = mapped_column(
        ForeignKey("communications.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # api, worker, webhook, reconcile
    provider_event_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(300))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime]


class PaceSlot(Base):
    """One provider call taken within its pace window, for processes that share no Redis
    (QUEUE_BACKEND=postgres): comms/core/pacing.py counts them under an advisory lock."""

    __tablename__ = "pace_slots"
    __table_args__ = (Index("ix_pace_slots_key_taken_at", "key", "taken_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    key: Mapped[str] = mapped_column(String(64))  # the pacer's name and the sender
    taken_at: Mapped[datetime]


class StatusIntake(Base):
    """A provider's status callback, verified and kept as it came until a batch applies it
    (comms/sms/intake.py). Only what applying needs: the provider's message id and status, our
    id if the callback carried it, and where it came from for the audit row; no address, no
    body."""

    __tablename__ = "status_intake"
    __table_args__ = (Index("ix_status_intake_due_at_id", "due_at", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str] = mapped_column(String(64))
    provider_status: Mapped[str] = mapped_column(String(32))  # as the provider named it
    error_code: Mapped[str | None] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(32))  # our message id, if carried
    ip: Mapped[str | None] = mapped_column(String(64))  # the provider's, for the audit row
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]  # when a batch may take it (later again when its message is unknown)
    attempts: Mapped[int] = mapped_column(default=0)


class RequestKey(Base):
    """A send asked for with a key of the sender's own (POST /comms' Idempotency-Key, or the
    composer's hidden one): asked again with that key, the first answer is given again and
    nothing more is sent. Keys are kept for a day."""

    __tablename__ = "request_keys"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    # Which request it was (POST /comms or /comms/bulk and a digest of its body), encrypted.
    fingerprint: Mapped[str] = mapped_column(EncryptedText)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None until the first answer
    answer: Mapped[str | None] = mapped_column(EncryptedText)  # the first answer's JSON body
    created_at: Mapped[datetime] = mapped_column(index=True)
