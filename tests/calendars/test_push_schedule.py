"""When push is relied on: a calendar with a healthy channel is polled once a day, one without
(none, failed, expired) every 5 minutes; channels near their end are renewed, missing ones set
up (not for a disabled member of staff); push is not set up where the real provider could not
reach the product."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from proirp.auth.models import User
from proirp.calendars import push
from proirp.calendars.models import CalendarIntegration, CalendarPushChannel, CalendarSyncStatus
from proirp.calendars.sync_status import due_for_sync
from proirp.kit.time import utcnow
from tests.conftest import make_settings
from tests.factories import create_staff


def _calendar(
    db: Session, *, channel: str | None, expires_in: timedelta, synced_ago: timedelta
) -> str:
    user = create_staff(db, role="clinician").user
    integration = CalendarIntegration(user_id=user.id, provider="google", status="active")
    db.add(integration)
    db.flush()
    db.add(CalendarSyncStatus(integration_id=integration.id, last_success_at=utcnow() - synced_ago))
    if channel is not None:
        db.add(
            CalendarPushChannel(
                integration_id=integration.id,
                provider="google",
                state=channel,
                channel_id=f"c-{integration.id}",
                expires_at=utcnow() + expires_in,
                retry_at=utcnow() + timedelta(minutes=30) if channel == "failed" else None,
            )
        )
    db.flush()
    return integration.id


def test_healthy_push_is_polled_once_a_day_the_rest_every_five_minutes(db: Session) -> None:
    week, minute = timedelta(days=6), timedelta(minutes=1)
    healthy = _calendar(db, channel="active", expires_in=week, synced_ago=minute)
    stale = _calendar(db, channel="active", expires_in=week, synced_ago=timedelta(days=1, hours=1))
    expired = _calendar(db, channel="active", expires_in=-minute, synced_ago=minute)
    failed = _calendar(db, channel="failed", expires_in=week, synced_ago=minute)
    none = _calendar(db, channel=None, expires_in=week, synced_ago=minute)
    due = set(due_for_sync(db))
    assert healthy not in due
    assert {stale, expired, failed, none} <= due


def test_a_pushed_calendar_whose_last_sync_failed_is_polled_again(db: Session) -> None:
    """A notification's sync that failed for a moment (the provider busy) has already taken its
    request: the change waits for the poll, which must not be a day away."""
    failing = _calendar(db, channel="active", expires_in=timedelta(days=6), synced_ago=timedelta())
    status = db.query(CalendarSyncStatus).filter_by(integration_id=failing).one()
    status.failures = 1
    status.retry_after = utcnow() - timedelta(seconds=1)  # its backoff has passed
    db.flush()
    assert failing in set(due_for_sync(db))
    status.retry_after = utcnow() + timedelta(minutes=1)  # not before its backoff
    db.flush()
    assert failing not in set(due_for_sync(db))


def test_upkeep_renews_near_the_end_and_sets_up_what_is_missing(db: Session) -> None:
    soon = _calendar(db, channel="active", expires_in=timedelta(hours=20), synced_ago=timedelta())
    later = _calendar(db, channel="active", expires_in=timedelta(days=5), synced_ago=timedelta())
    missing = _calendar(db, channel=None, expires_in=timedelta(), synced_ago=timedelta())
    waiting = _calendar(db, channel="failed", expires_in=timedelta(), synced_ago=timedelta())
    disabled = _calendar(db, channel=None, expires_in=timedelta(), synced_ago=timedelta())
    owner = db.get(CalendarIntegration, disabled)
    user = db.get(User, owner.user_id) if owner else None
    assert user is not None
    user.is_active = False
    db.flush()
    to_start, to_renew = push.due_for_upkeep(db)
    assert soon in to_renew and later not in to_renew
    assert missing in to_start and waiting not in to_start and disabled not in to_start


@pytest.mark.parametrize(
    ("overrides", "available"),
    [
        ({}, False),  # the real Google, PUBLIC_BASE_URL unset (http://localhost)
        ({"public_base_url": "https://irp.example.org"}, True),
        ({"public_base_url": "http://irp.example.org"}, False),
        ({"google_api_base": "http://127.0.0.1:9/google/api"}, True),  # the sandbox
        ({"google_api_base": "http://127.0.0.1:9/google/api", "calendar_push": False}, False),
    ],
)
def test_push_is_set_up_only_where_the_provider_can_reach_the_product(
    tmp_path: Path, overrides: dict[str, object], available: bool
) -> None:
    google = {"google_client_id": "irp.apps.googleusercontent.com", "google_client_secret": "s"}
    settings = make_settings(tmp_path, **google, **overrides)
    assert (push.unavailable_reason(settings, "google") is None) is available
