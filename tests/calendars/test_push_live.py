"""Calendars by push, end to end: `proirp sandbox`, `proirp serve` and `proirp worker` as real
processes. Connecting sets a channel (Google) or a subscription (Graph, after its validation
handshake) up at the sandbox; a change there reaches the product's cache within seconds, by
notification, not by polling; a burst of changes is one sync; Graph's lifecycle notifications
are acted on; channels are renewed before they expire and stopped at disconnect."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.models import AuditLog
from proirp.calendars import push
from proirp.calendars.models import CalendarIntegration, CalendarPushChannel
from proirp.calendars.sync_status import due_for_sync
from proirp.config import Settings
from proirp.kit.time import utcnow
from tests.calendars.dance import ACCOUNT, OUTLOOK_ACCOUNT, connect, wait_for_sync
from tests.live import LiveStack, live_stack, wait_until

DEBOUNCE = 1.0
TARGET_SECONDS = 5.0


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    settings = {"CALENDAR_PUSH_DEBOUNCE_SECONDS": str(DEBOUNCE)}
    with live_stack(
        tmp_path_factory.mktemp("push-live"), separate_worker=True, settings=settings
    ) as stack:
        yield stack


@pytest.fixture(autouse=True)
def _fresh_google() -> None:
    """The tests here follow one calendar through its life: the sandbox is not reset between
    them (this replaces the package's reset)."""


def _settings(live: LiveStack, tmp: Path) -> Settings:
    """The product's settings in this process, as the live stack's processes have them."""
    names = set(Settings.model_fields)
    values: dict[str, object] = {k.lower(): v for k, v in live.env.items() if k.lower() in names}
    values["proirp_data_dir"] = str(tmp)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def _row(live: LiveStack, provider: str) -> CalendarPushChannel | None:
    with live.session() as session:
        return session.scalar(
            select(CalendarPushChannel).where(CalendarPushChannel.provider == provider)
        )


def _channels(live: LiveStack) -> list[dict[str, Any]]:
    with live.google() as google:
        found: list[dict[str, Any]] = google.get("/channels").json()["channels"]
        return found


def _subscriptions(live: LiveStack) -> list[dict[str, Any]]:
    with live.microsoft() as microsoft:
        found: list[dict[str, Any]] = microsoft.get("/subscriptions").json()["subscriptions"]
        return found


def _connected(live: LiveStack, provider: str) -> CalendarPushChannel:
    connect(live, provider=provider)
    wait_for_sync(live)
    assert wait_until(
        lambda: (row := _row(live, provider)) is not None and row.state == "active", timeout=30
    ), _row(live, provider)
    row = _row(live, provider)
    assert row is not None
    return row


def _cached_titles(live: LiveStack) -> set[str]:
    start = datetime.now(UTC) - timedelta(days=1)
    end = datetime.now(UTC) + timedelta(days=30)
    with live.api() as api:
        events = api.get(
            "/calendar/events", params={"start": start.isoformat(), "end": end.isoformat()}
        ).json()["events"]
    return {str(e["title"]) for e in events}


def _seconds_until_cached(live: LiveStack, title: str, timeout: float = 30) -> float:
    began = time.monotonic()
    assert wait_until(lambda: title in _cached_titles(live), timeout=timeout, interval=0.1)
    return time.monotonic() - began


def _audited(live: LiveStack, action: str) -> list[dict[str, Any]]:
    with live.session() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == action)).all()
        return [dict(row.details) for row in rows]


def _disconnect(live: LiveStack, provider: str) -> None:
    with live.api() as api:
        api.delete(f"/calendar/integrations/{provider}").raise_for_status()


def test_a_change_in_google_reaches_the_cache_within_seconds_by_push(live: LiveStack) -> None:
    row = _connected(live, "google")
    (channel,) = _channels(live)
    assert channel["id"] == row.channel_id
    assert channel["address"] == f"{live.app_url}/webhooks/google/calendar"
    listed = live.google_stats()["events_list"]
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    event = {
        "summary": "Pushed from Google",
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
    }
    with live.google() as google:
        google.post("/events", json={"account": ACCOUNT, "events": [event]}).raise_for_status()
    took = _seconds_until_cached(live, "Pushed from Google")
    assert took <= TARGET_SECONDS, f"{took:.1f} s"
    assert live.google_stats()["events_list"] == listed + 1  # one incremental sync, no poll
    fresh = _row(live, "google")
    assert fresh is not None and fresh.last_notified_at is not None
    with Session(live.engine) as session:  # healthy push: polled once a day, not every 5 minutes
        assert fresh.integration_id not in due_for_sync(session)
    started = _audited(live, "CALENDAR_PUSH_STARTED")
    assert started and all("token" not in str(d).lower() for d in started)


def test_fifty_changes_in_a_burst_are_one_sync(live: LiveStack) -> None:
    assert _row(live, "google") is not None
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    with live.google() as google:
        ids = google.post(
            "/events",
            json={"account": ACCOUNT, "events": [], "count": 1, "start": start.isoformat()},
        ).json()["ids"]
    _seconds_until_cached(live, "Sandbox event 1")  # that one change's sync is done
    before = live.google_stats()
    sent_before = before["push_sent"]

    def change(index: int) -> None:
        with live.google() as google:
            google.patch(f"/events/{ids[0]}", json={"summary": f"Burst {index}"}).raise_for_status()

    with ThreadPoolExecutor(25) as pool:
        list(pool.map(change, range(50)))
    assert wait_until(lambda: live.google_stats()["push_sent"] >= sent_before + 50, timeout=30)
    time.sleep(DEBOUNCE + 5)
    after = live.google_stats()
    assert after["events_list"] - before["events_list"] == 1, (before, after)


def test_a_google_channel_is_renewed_before_it_expires(live: LiveStack, tmp_path: Path) -> None:
    row = _row(live, "google")
    assert row is not None and row.expires_at is not None
    with live.session() as session:
        session.execute(
            update(CalendarPushChannel)
            .where(CalendarPushChannel.id == row.id)
            .values(expires_at=utcnow() + timedelta(hours=20))
        )
        session.commit()
        to_start, to_renew = push.due_for_upkeep(session)
    assert row.integration_id in to_renew and row.integration_id not in to_start
    factory = sessionmaker(bind=live.engine)
    assert push.renew(factory, _settings(live, tmp_path), row.integration_id)
    renewed = _row(live, "google")
    assert renewed is not None and renewed.channel_id != row.channel_id
    assert renewed.expires_at is not None and renewed.expires_at > utcnow() + timedelta(days=6)
    (channel,) = _channels(live)  # the old one was stopped
    assert channel["id"] == renewed.channel_id
    assert live.google_stats()["channels_stop"] >= 1
    assert _audited(live, "CALENDAR_PUSH_RENEWED")


def test_disconnecting_google_stops_its_channel(live: LiveStack) -> None:
    assert _channels(live)
    _disconnect(live, "google")
    assert _channels(live) == []
    assert _row(live, "google") is None
    assert any(d.get("provider") == "google" for d in _audited(live, "CALENDAR_PUSH_STOPPED"))


def test_an_outlook_change_reaches_the_cache_by_graph_notification(live: LiveStack) -> None:
    row = _connected(live, "microsoft")
    (subscription,) = _subscriptions(live)
    assert subscription["id"] == row.channel_id
    assert subscription["lifecycle_url"] == f"{live.app_url}/webhooks/microsoft/calendar/lifecycle"
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    event = {
        "subject": "Pushed from Outlook",
        "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
    }
    with live.microsoft() as microsoft:
        microsoft.post(
            "/events", json={"account": OUTLOOK_ACCOUNT, "events": [event]}
        ).raise_for_status()
    took = _seconds_until_cached(live, "Pushed from Outlook")
    assert took <= TARGET_SECONDS, f"{took:.1f} s"


def _lifecycle(live: LiveStack, subscription_id: str, event: str) -> None:
    with live.microsoft() as microsoft:
        microsoft.post(
            f"/subscriptions/{subscription_id}/lifecycle", json={"lifecycleEvent": event}
        ).raise_for_status()


def test_graph_lifecycle_notifications_are_acted_on(live: LiveStack) -> None:
    row = _row(live, "microsoft")
    assert row is not None and row.channel_id
    stats = live.microsoft_stats()
    _lifecycle(live, row.channel_id, "missed")
    assert wait_until(
        lambda: live.microsoft_stats()["delta_pages"] > stats["delta_pages"], timeout=15
    )
    _lifecycle(live, row.channel_id, "reauthorizationRequired")
    assert wait_until(
        lambda: live.microsoft_stats()["subscriptions_renewed"] > stats["subscriptions_renewed"],
        timeout=15,
    )
    _lifecycle(live, row.channel_id, "subscriptionRemoved")
    assert wait_until(
        lambda: (
            (fresh := _row(live, "microsoft")) is not None and fresh.channel_id != row.channel_id
        ),
        timeout=15,
    )
    (subscription,) = _subscriptions(live)
    fresh = _row(live, "microsoft")
    assert fresh is not None and subscription["id"] == fresh.channel_id


def test_a_graph_subscription_is_renewed_in_place(live: LiveStack, tmp_path: Path) -> None:
    row = _row(live, "microsoft")
    assert row is not None
    renewed_before = live.microsoft_stats()["subscriptions_renewed"]
    factory = sessionmaker(bind=live.engine)
    assert push.renew(factory, _settings(live, tmp_path), row.integration_id)
    fresh = _row(live, "microsoft")
    assert fresh is not None and fresh.channel_id == row.channel_id
    assert live.microsoft_stats()["subscriptions_renewed"] == renewed_before + 1


def test_disconnecting_outlook_deletes_its_subscription(live: LiveStack) -> None:
    _disconnect(live, "microsoft")
    assert _subscriptions(live) == []
    assert live.microsoft_stats()["subscriptions_deleted"] >= 1


def test_without_push_a_calendar_is_polled_every_five_minutes(
    live: LiveStack, tmp_path: Path
) -> None:
    """A product whose PUBLIC_BASE_URL the real Google could not reach: push is not set up."""
    settings = _settings(live, tmp_path).model_copy(
        update={"google_api_base": "https://www.googleapis.com"}
    )
    assert push.unavailable_reason(settings, "google") is not None
    connect(live, provider="google")
    wait_for_sync(live)
    with live.session() as session:
        integration = session.scalar(
            select(CalendarIntegration).where(CalendarIntegration.provider == "google")
        )
        assert integration is not None
        integration_id = integration.id
    assert wait_until(
        lambda: (row := _row(live, "google")) is not None and row.state == "active", timeout=30
    )
    factory = sessionmaker(bind=live.engine)
    assert not push.start(factory, settings, integration_id)
    row = _row(live, "google")
    assert row is not None and row.state == "failed" and row.last_error
    with Session(live.engine) as session:
        assert integration_id in due_for_sync(session)
