"""The inbox's tables: an inbound message's media, who has read what, the conversations and
each reader's place in them (kept as messages arrive and are read), urgent incidents, the
automatic replies' last times, and the practice's inbox settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.crypto import EncryptedText
from proirp.kit.db import Base, IdMixin, TimestampMixin

OPEN = "acknowledged_at IS NULL"


class MessageMedia(IdMixin, TimestampMixin, Base):
    """One picture or file of an inbound MMS: its type and size, and its bytes (base64,
    encrypted) once the worker has fetched them from Twilio."""

    __tablename__ = "message_media"
    __table_args__ = (UniqueConstraint("communication_id", "position"),)

    communication_id: Mapped[str] = mapped_column(
        ForeignKey("communications.id", ondelete="CASCADE")
    )
    position: Mapped[int]  # N of Twilio's MediaUrlN
    content_type: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(EncryptedText)  # where Twilio holds it
    size: Mapped[int | None]
    content: Mapped[str | None] = mapped_column(EncryptedText)
    fetched_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    failed_reason: Mapped[str | None] = mapped_column(String(300))


class MessageRead(Base):
    """A member of staff has read an inbound message (read state is per user)."""

    __tablename__ = "message_reads"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    communication_id: Mapped[str] = mapped_column(
        ForeignKey("communications.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    read_at: Mapped[datetime]


UNREAD = "unread > 0"
ALL_READ = "unread = 0"


class InboxConversation(Base):
    """A conversation with inbound messages, kept as they arrive (decision 0028): how many there
    are and when the newest came, so the inbox is a range of an index, not a count of every
    inbound message."""

    __tablename__ = "inbox_conversations"
    __table_args__ = (
        Index("ix_inbox_conversations_last_inbound_at", "last_inbound_at", "client_id", "number"),
    )

    # "client:<id>", or "number:<the number's keyed hash>" for messages of no client (as urgent
    # incidents name it; decision 0036).
    conversation: Mapped[str] = mapped_column(String(330), primary_key=True)
    client_id: Mapped[str | None] = mapped_column(ForeignKey("clients.id"), index=True)
    number: Mapped[str | None] = mapped_column(EncryptedText(320))
    messages: Mapped[int]  # its inbound messages
    last_inbound_at: Mapped[datetime]


class ConversationRead(Base):
    """Where a member of staff stands in a conversation they have read some of: how many of its
    inbound messages they have not read (a conversation with no row here: none read)."""

    __tablename__ = "conversation_reads"
    __table_args__ = (
        # A reader's unread conversations, then their read ones, each newest first.
        Index(
            "ix_conversation_reads_unread",
            "user_id",
            "last_inbound_at",
            sqlite_where=text(UNREAD),
            postgresql_where=text(UNREAD),
        ),
        Index(
            "ix_conversation_reads_all_read",
            "user_id",
            "last_inbound_at",
            sqlite_where=text(ALL_READ),
            postgresql_where=text(ALL_READ),
        ),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    conversation: Mapped[str] = mapped_column(
        ForeignKey("inbox_conversations.conversation", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    unread: Mapped[int]
    last_inbound_at: Mapped[datetime]  # the conversation's, kept beside it for the order


class UrgentIncident(IdMixin, TimestampMixin, Base):
    """A conversation with urgent language in it, open until a member of staff opens the
    conversation. One open incident per conversation: later urgent messages join it."""

    __tablename__ = "urgent_incidents"
    __table_args__ = (
        Index(
            "uq_urgent_incidents_open_conversation",
            "conversation",
            unique=True,
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
        Index("ix_urgent_incidents_next_alert_at", "next_alert_at"),
    )

    # "client:<id>", or "number:<the number's keyed hash>" for a number that matches no client or
    # several (decision 0036).
    conversation: Mapped[str] = mapped_column(String(64))
    communication_id: Mapped[str] = mapped_column(ForeignKey("communications.id"))
    client_id: Mapped[str | None] = mapped_column(ForeignKey("clients.id"), index=True)
    messages: Mapped[int] = mapped_column(default=1)
    # Its newest urgent message's arrival: opening the conversation up to there closes it.
    last_message_at: Mapped[datetime]
    alerts_sent: Mapped[int] = mapped_column(default=0)
    next_alert_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))


class AutoReplyMark(Base):
    """When a number last got an automatic reply of a kind (the after-hours reply goes at most
    once per 12 hours). The number is kept as its keyed hash (`identity.address_hash`): a mark
    only has to be found again, never read."""

    __tablename__ = "auto_reply_marks"

    address_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(24), primary_key=True)
    sent_at: Mapped[datetime]


class InboxSettings(TimestampMixin, Base):
    """The practice's inbox settings: one row (id 'practice'), absent until first saved."""

    __tablename__ = "inbox_settings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default="practice")
    timezone: Mapped[str] = mapped_column(String(64))
    # {"mon": {"start": "09:00", "end": "17:00"}, ...}; a day left out is closed.
    office_hours: Mapped[dict[str, Any]] = mapped_column(JSON)
    safety_reply: Mapped[str] = mapped_column(String(320))
    after_hours_reply: Mapped[str] = mapped_column(String(320))
    urgent_phrases: Mapped[list[str]] = mapped_column(JSON)  # added to the maintained list
    on_call_email: Mapped[str | None] = mapped_column(EncryptedText(320))  # decision 0037
    realert_minutes: Mapped[int]
    realert_limit: Mapped[int]
