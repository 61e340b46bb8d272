"""`password_reset_links`: a one-time link an admin issued for a member of staff to set a new
password; only the SHA-256 of its token is kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.db import Base, IdMixin, TimestampMixin


class PasswordResetLink(IdMixin, TimestampMixin, Base):
    """Usable while `used_at` is empty and `expires_at` is ahead; never shown again."""

    __tablename__ = "password_reset_links"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Who issued it: an admin's id, or empty for the `proirp users` command on the server.
    issued_by_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime]
    # When it was used, or made void (a newer link, or the account disabled): spent either way.
    used_at: Mapped[datetime | None]
