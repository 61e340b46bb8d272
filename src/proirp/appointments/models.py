"""The reminder tables: the practice's rules, its reminder settings, and one reminder per
appointment and rule."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.db import Base, IdMixin, TimestampMixin


class ReminderStatus(enum.StrEnum):
    PENDING = "pending"  # planned: waits for its due time
    QUEUED = "queued"  # handed to comms (its communication tells delivery)
    CANCELLED = "cancelled"  # the appointment or the rule no longer wants it
    EXPIRED = "expired"  # more than the grace period past due when the sender saw it
    SKIPPED = "skipped"  # could not go: no allowed time, or the guard refused it
    HELD = "held"  # held back by the daily or weekly cap


_STATUSES = ", ".join(f"'{s.value}'" for s in ReminderStatus)


class ReminderRule(IdMixin, TimestampMixin, Base):
    """When (minutes before the start) and how (SMS or email) a reminder goes."""

    __tablename__ = "reminder_rules"
    __table_args__ = (CheckConstraint("channel IN ('sms', 'email')", name="channel"),)

    key: Mapped[str] = mapped_column(String(64), unique=True)
    offset_minutes: Mapped[int]
    channel: Mapped[str] = mapped_column(String(8))
    template_id: Mapped[str | None] = mapped_column(ForeignKey("templates.id"))
    enabled: Mapped[bool] = mapped_column(default=True)
    # A rule left out of the last PUT: kept (its reminders refer to it), never used again.
    removed_at: Mapped[datetime | None]


class ReminderSettings(TimestampMixin, Base):
    """The practice's reminder settings: one row (id 'practice'), absent until first saved."""

    __tablename__ = "reminder_settings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default="practice")
    quiet_hours_start: Mapped[str] = mapped_column(String(5))  # "21:00", client-local
    quiet_hours_end: Mapped[str] = mapped_column(String(5))  # "08:00", client-local
    grace_minutes: Mapped[int]
    sms_wording: Mapped[str] = mapped_column(String(320))
    email_subject: Mapped[str] = mapped_column(String(200))
    email_wording: Mapped[str] = mapped_column(String(1000))
    confirmed_reply: Mapped[str] = mapped_column(String(320))
    reschedule_reply: Mapped[str] = mapped_column(String(320))


class Reminder(IdMixin, TimestampMixin, Base):
    """One reminder of one appointment by one rule (never two: a unique constraint)."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("appointment_id", "rule_id"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        Index("ix_reminders_status_due_at", "status", "due_at"),
        Index("ix_reminders_client_id_queued_at", "client_id", "queued_at"),
    )

    appointment_id: Mapped[str] = mapped_column(
        ForeignKey("client_calendar_events.id", ondelete="CASCADE")
    )
    rule_id: Mapped[str] = mapped_column(ForeignKey("reminder_rules.id"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    channel: Mapped[str] = mapped_column(String(8))
    due_at: Mapped[datetime]
    # The appointment's start this due time was planned for: a different start means it moved.
    start_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=ReminderStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(300))  # plain words, never PHI
    communication_id: Mapped[str | None] = mapped_column(
        ForeignKey("communications.id", ondelete="SET NULL"), index=True
    )
    queued_at: Mapped[datetime | None]
