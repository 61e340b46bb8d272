"""Today: the user's appointments today with their state, conversations waiting (urgent first),
the messages they sent that did not go through, and calendars to connect again."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import expect
from sqlalchemy import update

from proirp.calendars.models import CalendarIntegration
from tests.live import LiveStack
from tests.web.browser import check_page
from tests.web.calendar_steps import ensure_connected
from tests.web.messaging import add_client, client_texts
from tests.web.test_clients import DELIVERY, message_in_thread, open_client, write

PRACTICE = ZoneInfo("America/Chicago")  # the live stack's PRACTICE_TIMEZONE


def test_today_shows_what_needs_the_user(page: Any, live: LiveStack) -> None:
    ensure_connected(page, "google")
    ensure_connected(page, "microsoft")
    quiet = add_client(live, first_name="Ines", last_name="Baptiste", phone="+12025550192")
    failing = add_client(live, first_name="Kai", last_name="Moreno", phone="+15005550011")
    urgent = add_client(live, first_name="Remy", last_name="Osei", phone="+12025550193")

    # An appointment today, for a client, on the user's own calendar.
    now = datetime.now(PRACTICE)
    today = now.date()
    # Later today if there is time left (scheduled), else early today (over: completed).
    start, end, state = (
        ("23:10", "23:40", "scheduled") if now.hour < 23 else ("00:10", "00:40", "completed")
    )
    page.goto("/app/calendar/new")
    page.get_by_label("Client", exact=True).select_option(label="Baptiste, Ines")
    page.get_by_label("Calendar", exact=True).select_option("google")
    page.get_by_label("Date").fill(today.isoformat())
    page.get_by_label("Starts").fill(start)
    page.get_by_label("Ends").fill(end)
    page.get_by_role("button", name="Make the appointment").click()
    page.wait_for_url(re.compile(r"done=created"))

    # A message the carrier could not deliver (the sandbox's failing number).
    open_client(page, failing)
    write(page, "SMS", "Please call our office.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(message_in_thread(page, "Please call our office.").locator(".status")).to_have_text(
        "failed", timeout=DELIVERY
    )

    # A client's reply, then another client's urgent one.
    client_texts(live, "+12025550192", "See you then")
    client_texts(live, "+12025550193", "I want to kill myself")

    # Outlook lost its access.
    with live.session() as session:
        session.execute(
            update(CalendarIntegration)
            .where(CalendarIntegration.provider == "microsoft")
            .values(status="needs_reauth")
        )
        session.commit()

    page.goto("/app/")
    reconnect = page.get_by_role("region", name="Calendars to connect again")
    expect(reconnect).to_contain_text("Microsoft")
    expect(reconnect.get_by_role("link", name="Connect it again in Settings")).to_be_visible()

    waiting = page.get_by_role("region", name="Conversations waiting").locator("li")
    expect(waiting.first).to_contain_text("Remy Osei")
    expect(waiting.first).to_contain_text("Urgent")
    expect(waiting.nth(1)).to_contain_text("Ines Baptiste")
    expect(waiting.first.get_by_role("link", name="Remy Osei")).to_have_attribute(
        "href", f"/app/clients/{urgent}#thread"
    )

    appointments = page.get_by_role("region", name="Your appointments today")
    row = appointments.locator("tbody tr", has_text="Ines Baptiste")
    expect(row).to_contain_text(start)
    expect(row).to_contain_text(state)
    expect(row.get_by_role("link", name="Ines Baptiste")).to_have_attribute(
        "href", f"/app/clients/{quiet}"
    )

    failed = page.get_by_role("region", name=re.compile("did not go through"))
    expect(failed.locator("tbody tr", has_text="Kai Moreno")).to_contain_text("failed")
    check_page(page, "today")
