"""Client records, their consent to be contacted, and opt-outs."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.crypto import EncryptedDate, EncryptedText
from proirp.kit.db import Base, IdMixin, TimestampMixin
from proirp.kit.keyed_hash import SearchKey as SearchKey  # its table, in kit (decision 0037)


class Channel(enum.StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Client(IdMixin, TimestampMixin, Base):
    __tablename__ = "clients"
    __table_args__ = (
        # The list's order, newest first, ties by id: a search for a common name tests clients
        # in this order until a page is full (clients/search.py).
        Index("ix_clients_created_at_id", "created_at", "id"),
    )

    # Who the client is, encrypted (decision 0033); found by the keyed hashes beside them and in
    # client_search_grams, which clients/identity.py keeps in step on every insert and update.
    first_name: Mapped[str] = mapped_column(EncryptedText(100))
    last_name: Mapped[str] = mapped_column(EncryptedText(100))
    phone: Mapped[str | None] = mapped_column(EncryptedText(20))  # E.164
    email: Mapped[str | None] = mapped_column(EncryptedText(320))
    phone_hash: Mapped[str | None] = mapped_column(String(32), index=True)
    date_of_birth: Mapped[date | None] = mapped_column(EncryptedDate())  # decision 0034
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
        Index("ix_opt_outs_channel_address_hash", "channel", "address_hash"),
    )

    client_id: Mapped[str | None] = mapped_column(ForeignKey("clients.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    # An E.164 phone or a normalised email, encrypted; found by its keyed hash, which
    # clients/identity.py writes on insert (decision 0035).
    address: Mapped[str] = mapped_column(EncryptedText(320))
    address_hash: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(32))  # e.g. sms_keyword, email_event, staff
    # What put an email address on the list (bounce, group_unsubscribe, one_click, ...) and, for
    # an unsubscribe from one of SendGrid's unsubscribe groups, the group: a resubscribe to that
    # group lifts that row and no other. Null on rows written before causes were kept.
    cause: Mapped[str | None] = mapped_column(String(32))
    unsubscribe_group: Mapped[int | None] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None]


class ClientSearchGram(Base):
    """A keyed hash of a piece of a client's name, email or phone (three characters of it, or
    the first one or two of a word): a search asks for the clients holding every piece of what
    was typed (clients/identity.py)."""

    __tablename__ = "client_search_grams"

    gram: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), primary_key=True, index=True)


# The hashes and pieces that find a client are written by the mapper's events (kept in step with
# every insert and update); importing them here registers them wherever clients are written.
from proirp.clients import identity as _identity  # noqa: E402, F401
