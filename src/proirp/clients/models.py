"""Client records, their consent to be contacted, and opt-outs."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.db import Base, IdMixin, TimestampMixin


class Channel(enum.StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Client(IdMixin, TimestampMixin, Base):
    __tablename__ = "clients"

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))  # IANA zone name
    sms_consent: Mapped[bool] = mapped_column(default=False)
    sms_consent_at: Mapped[datetime | None]
    sms_consent_source: Mapped[str | None] = mapped_column(String(100))
    email_consent: Mapped[bool] = mapped_column(default=False)
    email_consent_at: Mapped[datetime | None]
    email_consent_source: Mapped[str | None] = mapped_column(String(100))
    # Opted out of appointment reminders alone (other messages still go).
    reminders_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    deleted_at: Mapped[datetime | None]


class OptOut(IdMixin, TimestampMixin, Base):
    """An address that must not be contacted on a channel (STOP, bounce, unsubscribe, staff)."""

    __tablename__ = "opt_outs"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'email')", name="channel"),
        Index("ix_opt_outs_channel_address", "channel", "address"),
    )

    client_id: Mapped[str | None] = mapped_column(ForeignKey("clients.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(320))  # E.164 phone or normalised email
    reason: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(32))  # e.g. sms_keyword, email_event, staff
    # What put an email address on the list (bounce, group_unsubscribe, one_click, ...) and, for
    # an unsubscribe from one of SendGrid's unsubscribe groups, the group: a resubscribe to that
    # group lifts that row and no other. Null on rows written before causes were kept.
    cause: Mapped[str | None] = mapped_column(String(32))
    unsubscribe_group: Mapped[int | None] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None]
