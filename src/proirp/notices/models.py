"""`staff_notices`: one row per notice sent, unique on what it is about, so none goes twice."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.db import Base, IdMixin


class NoticeKind(enum.StrEnum):
    """What a notice is about; each names its subject with a key of its own."""

    CALENDAR_NEEDS_REAUTH = "calendar_needs_reauth"  # key: integration id / incident start
    CAMPAIGN_PROBLEMS = "campaign_problems"  # key: campaign id
    WEBHOOK_FAILURES = "webhook_failures"  # key: window start / admin's user id


_KINDS = ", ".join(f"'{kind.value}'" for kind in NoticeKind)


class StaffNotice(IdMixin, Base):
    """A notice sent: its kind, what it was about (`subject_key`), when, and its email."""

    __tablename__ = "staff_notices"
    __table_args__ = (
        UniqueConstraint("kind", "subject_key"),
        CheckConstraint(f"kind IN ({_KINDS})", name="kind"),
    )

    kind: Mapped[str] = mapped_column(String(32))
    subject_key: Mapped[str] = mapped_column(String(100))
    sent_at: Mapped[datetime]
    communication_id: Mapped[str | None] = mapped_column(
        ForeignKey("communications.id", ondelete="SET NULL")
    )
