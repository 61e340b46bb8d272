"""A disabled member of staff's calendars are no longer synced (neither by the periodic sweep nor
by a sync queued before they were disabled), yet stay connected with their events and history;
enabled again, they are synced again."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.models import AuditLog
from proirp.calendars import sync, sync_status
from proirp.calendars.models import CalendarIntegration, CalendarSyncStatus
from proirp.config import Settings
from tests.factories import create_staff


def _integration(db: Session, user_id: str) -> CalendarIntegration:
    row = CalendarIntegration(
        user_id=user_id, provider="google", status="active", access_token="secret-token"
    )
    db.add(row)
    db.flush()
    return row


def test_a_disabled_owners_calendar_is_left_alone_and_kept(
    api: TestClient, db: Session, settings: Settings
) -> None:
    admin = create_staff(db, role="admin")
    leaver = create_staff(db, role="clinician")
    stays = create_staff(db, role="clinician")
    theirs = _integration(db, leaver.user.id)
    kept_on = _integration(db, stays.user.id)
    db.commit()
    due = set(sync_status.due_for_sync(db))
    assert {theirs.id, kept_on.id} <= due

    assert api.post(f"/users/{leaver.user.id}/disable", headers=admin.headers).status_code == 200

    due = set(sync_status.due_for_sync(db))
    assert theirs.id not in due and kept_on.id in due
    # A sync already queued for it reads nothing: no attempt recorded, no provider call.
    factory = sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")
    assert sync.sync_integration(factory, settings, theirs.id) is None
    db.expire_all()
    assert (
        db.scalar(select(CalendarSyncStatus).where(CalendarSyncStatus.integration_id == theirs.id))
        is None
    )
    synced = db.scalars(select(AuditLog).where(AuditLog.action == "CALENDAR_SYNCED")).all()
    assert synced == []
    # Kept as it was: connected, with its owner's history.
    kept = db.get(CalendarIntegration, theirs.id)
    assert kept is not None and kept.status == "active"

    assert api.post(f"/users/{leaver.user.id}/enable", headers=admin.headers).status_code == 200
    assert theirs.id in set(sync_status.due_for_sync(db))
