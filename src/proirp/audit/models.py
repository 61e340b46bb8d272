"""The audit log: append-only, in a chain signed with a key kept outside the database.

A row is appended unchained (no `seq`, no hash) in the transaction of the change it records, with
no lock; the chainer (proirp.audit.chainer) then gives it the next place in the chain (`seq`)
and signs it. That one change, from unchained to chained, is the only one the database allows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from proirp.kit.db import Base
from proirp.kit.time import utcnow

GENESIS_HASH = "0" * 64


class AuditLog(Base):
    __tablename__ = "audit_logs"

    # The order rows were appended in; SQLite only auto-increments INTEGER keys.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str | None] = mapped_column(String(32), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The row's place in the chain, given by the chainer; None until it is chained. Rows are
    # chained in the order their transactions committed, which is not always the order of `id`.
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # The fingerprint of the chain key that signed `hash` (proirp.audit.keys); never the key.
    key_id: Mapped[str | None] = mapped_column(String(16))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)

    __table_args__ = (
        # The audit trail's filters, each with the trail's newest-first order.
        Index("ix_audit_logs_actor_user_id_id", "actor_user_id", "id"),
        Index("ix_audit_logs_client_id_id", "client_id", "id"),
        Index("ix_audit_logs_action_id", "action", "id"),
        # What the chainer reads: the rows not chained yet, in the order they were appended.
        Index(
            "ix_audit_logs_unchained",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )
