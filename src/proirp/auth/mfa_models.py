"""A user's second factor (a TOTP secret, stored encrypted), their recovery codes (only a digest
kept), and the sign-ins waiting for a code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.crypto import EncryptedText
from proirp.kit.db import Base, IdMixin, TimestampMixin


class SecondFactor(IdMixin, TimestampMixin, Base):
    """One per user: an authenticator app's TOTP secret. `confirmed_at` is set once the user has
    typed a code from it; until then it is an enrolment in progress and signs no one in."""

    __tablename__ = "second_factors"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    totp_secret: Mapped[str] = mapped_column(EncryptedText)
    confirmed_at: Mapped[datetime | None]
    # The newest 30-second step whose code was accepted: a code is never accepted twice.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    # While enrolling: the session (api_tokens.id) that started it, the only one shown its
    # secret and able to confirm it.
    started_by_token_id: Mapped[str | None] = mapped_column(String(32))


class RecoveryCode(IdMixin, TimestampMixin, Base):
    """A one-time code for when the phone is lost; only its SHA-256 is stored."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None]


class LoginChallenge(IdMixin, TimestampMixin, Base):
    """A password accepted for a user with a second factor: the sign-in waits for a code.

    Only the SHA-256 of the challenge token is stored; it lasts a few minutes and opens one
    session at most."""

    __tablename__ = "login_challenges"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
