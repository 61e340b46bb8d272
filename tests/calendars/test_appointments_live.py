"""Appointments end to end, at both providers through the sandbox: an event moved and cancelled by
staff (at the provider first, with If-Match, so a concurrent edit there is a 409, never
overwritten), and moved and cancelled at the provider (a weekly series: one instance moved, one
cancelled), found by sync, with the appointment following and audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from proirp.calendars.models import ClientCalendarEvent
from tests.calendars.dance import (
    audits,
    connect,
    event_body,
    integrations,
    new_client,
    new_user,
    next_days,
    wait_for_sync,
)
from tests.calendars.sides import SIDES, Side
from tests.live import LiveStack


@pytest.fixture(params=SIDES, ids=[s.provider for s in SIDES])
def side(request: pytest.FixtureRequest) -> Side:
    side: Side = request.param
    return side


def _connected(live: LiveStack, side: Side) -> str:
    token = new_user(live)
    assert connect(live, token, provider=side.provider).status_code == 303
    wait_for_sync(live, token)
    return token


def _start_of(side: Side, held: dict[str, Any]) -> datetime:
    """An event's start as the provider holds it (its own JSON)."""
    start = held["start"]
    when = datetime.fromisoformat(start["dateTime"].removesuffix("Z"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(start.get("timeZone") or "UTC"))
    return when.astimezone(UTC)


def _held(live: LiveStack, side: Side, provider_event_id: str) -> dict[str, Any]:
    """The event at the provider. (A touch: it also gives the event a new etag.)"""
    with side.control(live) as control:
        answer = control.post(f"/events/{provider_event_id}/touch")
        answer.raise_for_status()
        held: dict[str, Any] = answer.json()
        return held


def _appointment(live: LiveStack, client_id: str) -> ClientCalendarEvent:
    with live.session() as session:
        [row] = session.scalars(
            select(ClientCalendarEvent).where(ClientCalendarEvent.client_id == client_id)
        )
        return row


def _about(live: LiveStack, action: str, appointment_id: str) -> list[dict[str, Any]]:
    """The audit rows of `action` about one appointment (the stack serves a whole module)."""
    return [row for row in audits(live, action) if row.get("appointment_id") == appointment_id]


def _sync_now(live: LiveStack, token: str, side: Side) -> None:
    last = integrations(live, token)[0]["last_synced_at"]
    with live.api(token) as api:
        assert api.post(f"/calendar/integrations/{side.provider}/sync").status_code == 202
    wait_for_sync(live, token, after=last)


def _created(live: LiveStack, token: str, side: Side, client_id: str) -> dict[str, Any]:
    with live.api(token) as api:
        made = api.post("/calendar/events", json=event_body(side.provider, client_id=client_id))
    assert made.status_code == 201, made.text
    event: dict[str, Any] = made.json()["event"]
    return event


def test_staff_move_an_appointment_at_the_provider_first(live: LiveStack, side: Side) -> None:
    token = _connected(live, side)
    client_id = new_client(live, token)
    event = _created(live, token, side, client_id)
    later = datetime.fromisoformat(event["start"]) + timedelta(days=1, hours=2)
    change = {"start": later.isoformat(), "end": (later + timedelta(minutes=50)).isoformat()}
    with live.api(token) as api:
        moved = api.patch(f"/calendar/events/{event['id']}", json=change)
    assert moved.status_code == 200, moved.text
    assert datetime.fromisoformat(moved.json()["event"]["start"]) == later
    assert moved.json()["event"]["client_id"] == client_id
    assert _start_of(side, _held(live, side, event["provider_event_id"])) == later
    appointment = _appointment(live, client_id)
    assert (appointment.start_at, appointment.state) == (later, "moved")
    assert len(_about(live, "APPOINTMENT_MOVED", appointment.id)) == 1
    assert audits(live, "CALENDAR_EVENT_UPDATED")[-1]["fields"] == ["end", "start"]
    # A later sync finds the same time: not another move.
    _sync_now(live, token, side)
    assert len(_about(live, "APPOINTMENT_MOVED", appointment.id)) == 1


def test_an_edit_may_not_put_the_clients_name_in_the_location_without_a_baa(
    live: LiveStack, side: Side
) -> None:
    token = _connected(live, side)
    client_id = new_client(live, token)
    event = _created(live, token, side, client_id)
    with live.api(token) as api:
        refused = api.patch(f"/calendar/events/{event['id']}", json={"location": "Avery Quinn"})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "phi_without_baa" and list(error["fields"]) == ["location"]
    assert "Avery" not in refused.text and "Quinn" not in refused.text
    assert "Avery" not in str(_held(live, side, event["provider_event_id"]).get("location"))


def test_an_edit_made_at_the_provider_meanwhile_is_a_409_never_overwritten(
    live: LiveStack, side: Side
) -> None:
    token = _connected(live, side)
    client_id = new_client(live, token)
    event = _created(live, token, side, client_id)
    before = _start_of(side, _held(live, side, event["provider_event_id"]))  # a new etag there
    later = before + timedelta(days=1)
    change = {"start": later.isoformat(), "end": (later + timedelta(hours=1)).isoformat()}
    with live.api(token) as api:
        moved = api.patch(f"/calendar/events/{event['id']}", json=change)
        deleted = api.delete(f"/calendar/events/{event['id']}")
    for answer in (moved, deleted):
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"]["code"] == "event_changed"
    assert _start_of(side, _held(live, side, event["provider_event_id"])) == before
    assert _appointment(live, client_id).state == "scheduled"
    # Once synced, the change goes through.
    _sync_now(live, token, side)
    with live.api(token) as api:
        assert api.patch(f"/calendar/events/{event['id']}", json=change).status_code == 200


def test_staff_cancel_an_appointment_at_the_provider_first(live: LiveStack, side: Side) -> None:
    token = _connected(live, side)
    client_id = new_client(live, token)
    event = _created(live, token, side, client_id)
    with live.api(token) as api:
        deleted = api.delete(f"/calendar/events/{event['id']}")
        assert deleted.status_code == 200, deleted.text
        listed = api.get("/calendar/events", params=next_days(7)).json()["events"]
        again = api.delete(f"/calendar/events/{event['id']}")
    assert listed == []
    assert again.status_code == 404
    with side.control(live) as control:
        held = control.post(f"/events/{event['provider_event_id']}/touch")
    assert held.status_code == 404 or held.json().get("status") == "cancelled"
    appointment = _appointment(live, client_id)
    assert appointment.state == "cancelled" and appointment.gone_at is not None
    [cancelled] = _about(live, "APPOINTMENT_CANCELLED", appointment.id)
    assert cancelled["by"] == "staff"


def test_a_move_and_a_cancel_made_at_the_provider_reach_the_appointments(
    live: LiveStack, side: Side
) -> None:
    token = _connected(live, side)
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    with side.control(live) as control:
        made = control.post(
            "/series", json={"account": side.account, "start": first.isoformat(), "count": 3}
        )
        made.raise_for_status()
    ids = made.json()["ids"]
    _sync_now(live, token, side)
    with live.api(token) as api:
        window = {"start": first.isoformat(), "end": (first + timedelta(days=21)).isoformat()}
        cached = {
            e["provider_event_id"]: e
            for e in api.get("/calendar/events", params=window).json()["events"]
        }
        assert set(ids) <= set(cached)
        clients = [new_client(live, token) for _ in ids]
        for provider_event_id, client_id in zip(ids, clients, strict=True):
            linked = api.post(
                f"/calendar/events/{cached[provider_event_id]['id']}/link",
                json={"client_id": client_id},
            )
            assert linked.status_code == 201, linked.text
    moved_to = first + timedelta(days=7, hours=3)
    with side.control(live) as control:
        control.post(
            f"/events/{ids[1]}/move",
            json={
                "start": moved_to.isoformat(),
                "end": (moved_to + timedelta(minutes=50)).isoformat(),
            },
        ).raise_for_status()
        control.delete(f"/events/{ids[2]}").raise_for_status()
    _sync_now(live, token, side)

    untouched, moved, cancelled = (_appointment(live, c) for c in clients)
    assert (untouched.state, untouched.start_at) == ("scheduled", first)
    assert (moved.state, moved.start_at) == ("moved", moved_to)
    assert cancelled.state == "cancelled" and cancelled.gone_at is not None
    assert len(_about(live, "APPOINTMENT_MOVED", moved.id)) == 1
    assert _about(live, "APPOINTMENT_MOVED", untouched.id) == []
    assert _about(live, "APPOINTMENT_MOVED", cancelled.id) == []
    [gone] = _about(live, "APPOINTMENT_CANCELLED", cancelled.id)
    assert gone["by"] == "provider"


def test_a_client_s_event_carries_a_neutral_title_by_default(live: LiveStack, side: Side) -> None:
    token = _connected(live, side)
    client_id = new_client(live, token)
    body = event_body(side.provider, client_id=client_id)
    del body["title"]
    with live.api(token) as api:
        made = api.post("/calendar/events", json=body)
    assert made.status_code == 201, made.text
    held = _held(live, side, made.json()["event"]["provider_event_id"])
    assert held.get("summary", held.get("subject")) == "Appointment"


def test_an_event_deleted_at_the_provider_is_never_recreated_by_a_change(
    live: LiveStack, side: Side
) -> None:
    """Outlook forgets a deleted event (404): the change answers 409 `event_gone` and the event
    and its appointment go here too, at once. Google keeps it, cancelled, with a new etag: the
    change answers 409 `event_changed`, and the next sync cancels the appointment."""
    token = _connected(live, side)
    client_id = new_client(live, token)
    event = _created(live, token, side, client_id)
    with side.control(live) as control:
        control.delete(f"/events/{event['provider_event_id']}").raise_for_status()
    later = datetime.fromisoformat(event["start"]) + timedelta(days=1)
    change = {"start": later.isoformat(), "end": (later + timedelta(hours=1)).isoformat()}
    with live.api(token) as api:
        answer = api.patch(f"/calendar/events/{event['id']}", json=change)
    assert answer.status_code == 409, answer.text
    if side.provider == "microsoft":
        assert answer.json()["error"]["code"] == "event_gone"
    else:
        assert answer.json()["error"]["code"] == "event_changed"
        _sync_now(live, token, side)
    appointment = _appointment(live, client_id)
    assert appointment.state == "cancelled" and appointment.gone_at is not None
    with live.api(token) as api:
        assert api.get("/calendar/events", params=next_days(7)).json()["events"] == []


def test_a_calendar_connected_again_finds_its_appointments_again(
    live: LiveStack, side: Side
) -> None:
    """Disconnecting keeps the appointments as history; connecting the same calendar again
    links each to its event again (its reminders are planned again), where before every one
    stayed without an event and the events came back without a client."""
    token = _connected(live, side)
    client_id = new_client(live, token)
    event = _created(live, token, side, client_id)
    with live.api(token) as api:
        assert api.delete(f"/calendar/integrations/{side.provider}").status_code == 200
    assert _appointment(live, client_id).gone_at is not None

    assert connect(live, token, provider=side.provider).status_code == 303
    wait_for_sync(live, token)
    appointment = _appointment(live, client_id)
    assert appointment.gone_at is None and appointment.integration_id is not None
    assert appointment.state == "scheduled"
    with live.api(token) as api:
        events = api.get(
            "/calendar/events", params={"start": event["start"], "end": event["end"]}
        ).json()["events"]
    [again] = [e for e in events if e["provider_event_id"] == event["provider_event_id"]]
    assert again["client_id"] == client_id
    assert len(_about(live, "APPOINTMENT_RELINKED", appointment.id)) == 1
