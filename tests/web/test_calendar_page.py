"""The Calendar page in the browser: the user's week from their synced calendar, in the
practice's time zone; an appointment made for a client, moved and cancelled (at Google too); an
event made in Google Calendar linked to a client and unlinked."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import expect
from sqlalchemy import select

from proirp.calendars.models import ClientCalendarEvent, SyncedCalendarEvent
from tests.live import LiveStack
from tests.web.browser import DESKTOP, check_page
from tests.web.calendar_steps import (
    cached_events,
    ensure_connected,
    seed_google_event,
    sync_now,
)
from tests.web.conftest import add_user, sign_in

PRACTICE = ZoneInfo("America/Chicago")  # PRACTICE_TIMEZONE of the live stack
TO = "\N{EN DASH}"  # between an event's start and end


def _tomorrow() -> date:
    return (datetime.now(PRACTICE) + timedelta(days=1)).date()


def _day_heading(day: date) -> str:
    return day.strftime("%A %-d %B")


def _new_client(live: LiveStack, first: str, last: str) -> str:
    with live.api() as api:
        answer = api.post(
            "/clients",
            json={"first_name": first, "last_name": last, "timezone": "America/Chicago"},
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["client"]["id"])


def _appointments(live: LiveStack, client_id: str) -> list[ClientCalendarEvent]:
    with live.session() as session:
        return list(
            session.scalars(
                select(ClientCalendarEvent).where(ClientCalendarEvent.client_id == client_id)
            )
        )


def _event(page: Any, text: str) -> Any:
    return page.locator("li.event").filter(has_text=text)


def test_make_move_and_cancel_an_appointment_for_a_client(page: Any, live: LiveStack) -> None:
    ensure_connected(page, "google")
    client_id = _new_client(live, "Avery", "Quinn")
    day = _tomorrow()

    page.goto("/app/calendar")
    page.get_by_role("link", name="New appointment").click()
    page.wait_for_url(re.compile(r"/app/calendar/new"))
    page.get_by_label("Client", exact=True).select_option(label="Quinn, Avery")
    page.get_by_label("Calendar", exact=True).select_option("google")
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Starts").fill("10:00")
    page.get_by_label("Ends").fill("09:00")
    check_page(page, "calendar-new")
    page.get_by_role("button", name="Make the appointment").click()
    # Refused as the API refuses it, naming the field; nothing is made.
    expect(page.get_by_role("heading", level=1)).to_have_text("That was not done")
    expect(page.locator(".field-errors")).to_contain_text("end: must be after start")
    assert _appointments(live, client_id) == []

    page.go_back()
    page.get_by_label("Client", exact=True).select_option(label="Quinn, Avery")
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Starts").fill("10:00")
    page.get_by_label("Ends").fill("10:50")
    page.get_by_role("button", name="Make the appointment").click()
    page.wait_for_url(re.compile(r"/app/calendar\?week=[0-9-]+&done=created"))
    expect(page.get_by_role("status")).to_have_text(
        "The appointment is made, in your calendar too."
    )
    day_section = page.get_by_role("region", name=re.compile(f"^{_day_heading(day)}"))
    card = _event(day_section, "Avery Quinn")
    expect(card.get_by_role("heading", level=3)).to_have_text(f"10:00{TO}10:50 · Appointment")
    expect(card.get_by_role("link", name="Avery Quinn")).to_have_attribute(
        "href", f"/app/clients/{client_id}"
    )
    check_page(page, "calendar")
    [made] = _appointments(live, client_id)
    assert made.state == "scheduled"
    assert made.start_at == datetime.combine(day, time(10, 0), PRACTICE)
    with live.session() as session:
        event = session.get(SyncedCalendarEvent, made.synced_event_id)
        assert event is not None and event.title == "Appointment"

    # Moved: at Google, in the cache and the appointment.
    card.get_by_text("Move or cancel").click()
    card.get_by_label("Starts").fill("11:15")
    card.get_by_label("Ends").fill("12:05")
    card.get_by_role("button", name="Move").click()
    page.wait_for_url(re.compile(r"done=moved"))
    expect(page.get_by_role("status")).to_contain_text("The event is moved")
    card = _event(page, "Avery Quinn")
    expect(card.get_by_role("heading", level=3)).to_have_text(f"11:15{TO}12:05 · Appointment")
    [moved] = _appointments(live, client_id)
    assert moved.start_at == datetime.combine(day, time(11, 15), PRACTICE)
    assert moved.end_at == datetime.combine(day, time(12, 5), PRACTICE)

    # Cancelled, once confirmed.
    card.get_by_text("Move or cancel").click()
    page.once("dialog", lambda dialog: dialog.dismiss())
    card.get_by_role("button", name="Cancel the event").click()
    expect(card).to_be_visible()
    assert _appointments(live, client_id)[0].state == "moved"
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Cancel the event").click()
    page.wait_for_url(re.compile(r"done=cancelled"))
    expect(page.get_by_role("status")).to_contain_text("The event is cancelled")
    expect(_event(page, "Avery Quinn")).to_have_count(0)
    [cancelled] = _appointments(live, client_id)
    assert cancelled.state == "cancelled"


def test_link_an_event_made_in_google_calendar_to_a_client(
    page: Any, browser: Any, live: LiveStack
) -> None:
    ensure_connected(page, "google")
    client_id = _new_client(live, "Rowan", "Ellis")
    _new_client(live, "Sam", "Okafor")
    day = _tomorrow()
    start = datetime.combine(day, time(14, 0), PRACTICE)
    before = cached_events(page, "google")
    seed_google_event(live, "Family session", start, start + timedelta(minutes=50))
    sync_now(page, "google", events=before + 1)

    page.goto(f"/app/calendar?week={day.isoformat()}")
    card = _event(page, "Family session")
    expect(card.get_by_role("heading", level=3)).to_have_text(f"14:00{TO}14:50 · Family session")
    expect(card).to_contain_text("No client.")
    card.get_by_role("link", name=re.compile("^Link to a client")).click()
    page.wait_for_url(re.compile(r"/link\?week="))
    expect(page.locator("dl.facts")).to_contain_text("Family session")
    # The box narrows the list, and picks the one client it leaves.
    page.get_by_label("Find in the list").fill("elli")
    expect(page.get_by_label("Client", exact=True)).to_have_value(client_id)
    check_page(page, "calendar-link")
    page.get_by_role("button", name="Link to this client").click()
    page.wait_for_url(re.compile(r"/app/calendar\?week=.*done=linked"))
    expect(page.get_by_role("status")).to_contain_text("The event is linked to the client")
    card = _event(page, "Family session")
    expect(card.get_by_role("link", name="Rowan Ellis")).to_be_visible()
    [linked] = _appointments(live, client_id)
    assert (linked.state, linked.start_at) == ("scheduled", start)

    # Nobody else can change it: another user's request finds no such event.
    event_id = str(linked.synced_event_id)
    email = "staff@lakeside.example.com"
    add_user(live, email, "staff")
    other = browser.new_context(viewport=DESKTOP, base_url=live.app_url)
    other_page = other.new_page()
    sign_in(other_page, live, email)
    token = other_page.locator('input[name="csrf_token"]').first.input_value()
    refused = other_page.request.post(
        f"/app/calendar/events/{event_id}/cancel", form={"csrf_token": token}, max_redirects=0
    )
    assert refused.status == 404
    other.close()

    # Unlinked: the event stays, the appointment ends.
    card.get_by_text("Move or cancel").click()
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Unlink the client").click()
    page.wait_for_url(re.compile(r"done=unlinked"))
    expect(_event(page, "Family session")).to_contain_text("No client.")
    assert _appointments(live, client_id)[0].unlinked_at is not None


def test_moving_between_weeks(page: Any, live: LiveStack) -> None:
    page.goto("/app/calendar?week=2030-01-16")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your week, 14 Jan to 20 Jan 2030")
    expect(page.get_by_role("heading", level=2)).to_have_count(7)
    page.get_by_role("link", name="Next week").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your week, 21 Jan to 27 Jan 2030")
    page.get_by_role("link", name="Previous week").click()
    page.get_by_role("link", name="Previous week").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your week, 7 Jan to 13 Jan 2030")
    page.get_by_role("link", name="This week").click()
    expect(page.get_by_role("link", name="This week")).to_have_count(0)
    page.goto("/app/calendar?week=someday")
    expect(page.locator(".field-errors")).to_contain_text("week")
