"""Staff users and their tokens (API tokens and browser sessions)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from proirp.kit.crypto import EncryptedText
from proirp.kit.db import Base, IdMixin, TimestampMixin
from proirp.kit.keyed_hash import exact_hash, search_key


class Role(enum.StrEnum):
    ADMIN = "admin"
    CLINICIAN = "clinician"
    STAFF = "staff"


class TokenKind(enum.StrEnum):
    SESSION = "session"
    API = "api"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'clinician', 'staff')", name="role"),
        Index("uq_users_email_hash", "email_hash", unique=True),
    )

    # Encrypted; found, and kept to one account an address, by its keyed hash (decision 0037),
    # which the listener below writes.
    email: Mapped[str] = mapped_column(EncryptedText(320))
    email_hash: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]


def staff_email_hash(key: bytes, email: str) -> str:
    """The keyed hash a staff account is found by (a sign-in's address, case aside), under the
    database's key (`kit/keyed_hash.search_key`)."""
    return exact_hash(key, "staff email", email.strip().lower()) or ""


@event.listens_for(User, "before_insert")
def _hash_email(_mapper: Mapper[Any], db: Connection, user: User) -> None:
    user.email_hash = staff_email_hash(search_key(db), user.email)


@event.listens_for(User, "before_update")
def _hash_changed_email(_mapper: Mapper[Any], db: Connection, user: User) -> None:
    if inspect(user).attrs.email.history.has_changes():
        _hash_email(_mapper, db, user)


class ApiToken(IdMixin, TimestampMixin, Base):
    """A bearer token or browser session; only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("kind IN ('session', 'api')", name="kind"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginCounter(Base):
    """Failed sign-ins (and those being checked) in a fixed window, for the login limits.

    Keyed by a digest of what is counted (an account, an address, or both), never the email or
    the address itself.
    """

    __tablename__ = "login_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    hits: Mapped[int]
    window_ends_at: Mapped[datetime] = mapped_column(index=True)
