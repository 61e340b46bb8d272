"""Staff users and their tokens (API tokens and browser sessions)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.db import Base, IdMixin, TimestampMixin


class Role(enum.StrEnum):
    ADMIN = "admin"
    CLINICIAN = "clinician"
    STAFF = "staff"


class TokenKind(enum.StrEnum):
    SESSION = "session"
    API = "api"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'clinician', 'staff')", name="role"),)

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]


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
