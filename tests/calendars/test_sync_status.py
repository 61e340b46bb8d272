"""Sync that runs itself: a failing calendar backs off (5 minutes, doubling, at most 6 hours,
never sooner than Retry-After), and `GET /calendar/sync-status` says where each calendar stands
in plain words. The clock is the tests'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from proirp.calendars import sync, sync_status
from proirp.calendars.models import CalendarIntegration, CalendarSyncStatus, SyncedCalendarEvent
from proirp.config import Settings
from proirp.integrations.base import ProviderPermanentError, ProviderTemporaryError
from proirp.kit.time import set_clock, utcnow
from tests.factories import Staff, create_staff

NOW = datetime(2030, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def alice(db: Session) -> Staff:
    return create_staff(db, role="clinician")


@pytest.fixture
def factory(db: Session) -> sessionmaker[Session]:
    """Sessions on the test's own connection: what they commit, the test rolls back."""
    return sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")


def _integration(db: Session, user_id: str, provider: str = "google") -> CalendarIntegration:
    row = CalendarIntegration(
        user_id=user_id, provider=provider, status="active", access_token="secret-token"
    )
    db.add(row)
    db.flush()
    return row


def test_each_failure_in_a_row_doubles_the_wait_up_to_six_hours(
    db: Session, alice: Staff, factory: sessionmaker[Session]
) -> None:
    integration = _integration(db, alice.user.id)
    outage = ProviderTemporaryError("google", "503", "Google could not be reached")
    waits = []
    with set_clock(NOW):
        for _ in range(9):
            sync_status.failed(factory, integration.id, outage)
            db.expire_all()
            status = sync_status.status_of(db, integration.id)
            assert status.retry_after is not None
            waits.append(status.retry_after - utcnow())
    minutes = [int(w.total_seconds() // 60) for w in waits]
    assert minutes == [5, 10, 20, 40, 80, 160, 320, 360, 360]
    assert status.failures == 9 and status.last_error == "Google could not be reached"


def test_a_retry_after_longer_than_the_backoff_is_honoured(
    db: Session, alice: Staff, factory: sessionmaker[Session]
) -> None:
    integration = _integration(db, alice.user.id)
    throttled = ProviderTemporaryError("google", "429", "rate limited", retry_after=3600)
    with set_clock(NOW):
        sync_status.failed(factory, integration.id, throttled)
        db.expire_all()
        assert sync_status.status_of(db, integration.id).retry_after == NOW + timedelta(hours=1)


def test_the_periodic_sync_leaves_a_backing_off_calendar_alone_until_its_time(
    db: Session, alice: Staff, factory: sessionmaker[Session]
) -> None:
    failing = _integration(db, alice.user.id, "google")
    healthy = _integration(db, alice.user.id, "microsoft")
    outage = ProviderTemporaryError("google", "503", "Google could not be reached")
    with set_clock(NOW) as clock:
        sync_status.failed(factory, failing.id, outage)
        db.expire_all()
        assert set(sync_status.due_for_sync(db)) == {healthy.id}
        clock.advance(timedelta(minutes=5))
        assert set(sync_status.due_for_sync(db)) == {healthy.id, failing.id}
        # A success ends the backoff at once.
        status = sync_status.status_of(db, failing.id)
        sync_status.succeeded(status)
        assert status.failures == 0 and status.retry_after is None and status.last_error is None


def test_sync_status_says_where_each_calendar_stands(
    api: TestClient, db: Session, alice: Staff, factory: sessionmaker[Session]
) -> None:
    google = _integration(db, alice.user.id, "google")
    microsoft = _integration(db, alice.user.id, "microsoft")
    db.add_all(
        SyncedCalendarEvent(
            integration_id=google.id,
            provider_event_id=f"e{i}",
            start_at=NOW,
            end_at=NOW + timedelta(hours=1),
        )
        for i in range(3)
    )
    db.flush()
    sync_status.status_of(db, google.id)
    sync_status.succeeded(sync_status.status_of(db, google.id))
    db.flush()
    refused = ProviderPermanentError("microsoft", "403", "the calendar permission was removed")
    sync_status.failed(factory, microsoft.id, refused)
    answer = api.get("/calendar/sync-status", headers=alice.headers)
    assert answer.status_code == 200, answer.text
    views = {v["provider"]: v for v in answer.json()["integrations"]}
    assert views["google"]["status"] == "ok" and views["google"]["events_cached"] == 3
    assert views["microsoft"]["status"] == "error"
    assert views["microsoft"]["last_error"] == "the calendar permission was removed"
    assert views["microsoft"]["next_attempt_at"] is not None
    assert "secret-token" not in answer.text

    microsoft.status = "needs_reauth"
    status = db.get(CalendarSyncStatus, sync_status.status_of(db, google.id).id)
    assert status is not None
    status.syncing_since = utcnow()
    db.flush()
    views = {
        v["provider"]: v
        for v in api.get("/calendar/sync-status", headers=alice.headers).json()["integrations"]
    }
    assert views["microsoft"]["status"] == "needs_reauth" and views["microsoft"]["message"]
    assert views["google"]["status"] == "syncing"
    bob = create_staff(db, role="clinician")
    assert api.get("/calendar/sync-status", headers=bob.headers).json()["integrations"] == []


def test_a_failure_of_ours_during_a_sync_is_recorded_by_its_type_only(
    db: Session,
    alice: Staff,
    factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    integration = _integration(db, alice.user.id)

    def broken(*_args: object) -> None:
        raise RuntimeError("Avery Quinn's event")

    monkeypatch.setattr(sync, "_fetch", broken)
    with set_clock(NOW), pytest.raises(RuntimeError):
        sync.sync_integration(factory, settings, integration.id)
    db.expire_all()
    status = sync_status.status_of(db, integration.id)
    assert status.syncing_since is None and status.failures == 1
    assert status.last_error == "the sync failed here (RuntimeError)"
