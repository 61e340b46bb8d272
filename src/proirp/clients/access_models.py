"""Who may see which client: care teams (the clinicians assigned to a client) and break-glass
grants (a clinician's time-limited access to a client outside their care team)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.crypto import EncryptedText
from proirp.kit.db import Base, IdMixin, TimestampMixin


class CareTeamMember(IdMixin, TimestampMixin, Base):
    """A clinician assigned to a client (`created_at`: when, `assigned_by_user_id`: by whom)."""

    __tablename__ = "care_team_members"
    __table_args__ = (UniqueConstraint("client_id", "user_id"),)

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))


class BreakGlassGrant(IdMixin, TimestampMixin, Base):
    """Emergency access: `user_id` may reach `client_id` until `expires_at`, for `reason`
    (free text that may hold PHI: encrypted, never logged). Kept for review."""

    __tablename__ = "break_glass_grants"
    __table_args__ = (Index("ix_break_glass_grants_user_client", "user_id", "client_id"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    reason: Mapped[str] = mapped_column(EncryptedText)
    expires_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]
    reviewed_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
