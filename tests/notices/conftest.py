"""Notices in a test's own session: the `notices.send` job run in-process on the test's
connection, and the staff emails it queued read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.models import AuditLog
from proirp.comms.models import Communication, Purpose
from proirp.config import Settings
from proirp.notices.tasks import send_notices
from proirp.worker.jobs import JobContext

# A Monday at noon UTC (06:00 in Chicago, the practice's zone in the tests' settings).
MONDAY = datetime(2030, 1, 14, 12, 0, tzinfo=UTC)


@pytest.fixture
def factory(db: Session) -> sessionmaker[Session]:
    """Sessions on the test's own connection: what they commit, the test rolls back."""
    return sessionmaker(
        bind=db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )


def run_notices(factory: sessionmaker[Session], settings: Settings) -> None:
    """One run of the worker's `notices.send` job."""
    send_notices(JobContext(settings, factory))


def notices_sent(db: Session) -> list[Communication]:
    """Every staff notice queued so far, oldest first."""
    db.expire_all()
    stmt = select(Communication).where(Communication.purpose == Purpose.STAFF_NOTICE)
    return list(db.scalars(stmt.order_by(Communication.created_at, Communication.id)))


def notice_audits(db: Session, kind: str) -> list[dict[str, Any]]:
    """The details of the EMAIL_QUEUED rows of notices of `kind`."""
    stmt = select(AuditLog).where(AuditLog.action == "EMAIL_QUEUED").order_by(AuditLog.id)
    rows = db.scalars(stmt)
    return [dict(row.details) for row in rows if row.details.get("kind") == kind]
