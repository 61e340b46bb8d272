"""A front-desk day in one browser, on one live stack in sandbox mode, ending in the audit log:
both calendars connected through the sandbox's consent pages and showing OK; an appointment
made for a client; an SMS and an email from the client's page reaching `delivered` in place;
the client's urgent reply first in the inbox and in the thread; and the audit log, filtered by
that client, showing each of those steps."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from proirp.kit.time import utcnow
from tests.live import LiveStack
from tests.web.browser import check_page
from tests.web.calendar_steps import connect_calendar, wait_until_ok
from tests.web.messaging import add_client, client_texts
from tests.web.test_clients import DELIVERY, message_in_thread, open_client, write
from tests.web.test_inbox import conversations

PHONE = "+12025550191"


def _audited_actions(page: Any, client_id: str) -> list[str]:
    page.goto(f"/app/audit?client_id={client_id}&limit=200")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    cells = page.locator("table.audit tbody tr").locator("td:nth-child(2)").all()
    return [cell.inner_text() for cell in cells]


def test_a_front_desk_day_from_sign_in_to_the_audit_log(page: Any, live: LiveStack) -> None:
    # Calendars: through each provider's consent page and back; both OK once synced.
    connect_calendar(page, "google")
    connect_calendar(page, "microsoft")
    wait_until_ok(page, "google")
    wait_until_ok(page, "microsoft")

    client_id = add_client(
        live, first_name="Noor", last_name="Castellanos", phone=PHONE, email="noor@example.com"
    )

    # An appointment for the client, tomorrow, on the Google calendar.
    day = (utcnow() + timedelta(days=1)).date()
    page.goto("/app/calendar/new")
    page.get_by_label("Client", exact=True).select_option(label="Castellanos, Noor")
    page.get_by_label("Calendar", exact=True).select_option("google")
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Starts").fill("09:30")
    page.get_by_label("Ends").fill("10:20")
    page.get_by_role("button", name="Make the appointment").click()
    page.wait_for_url(re.compile(r"done=created"))
    expect(page.get_by_role("link", name="Noor Castellanos").first).to_be_visible()

    # An SMS and an email from the client's page, each reaching `delivered` in place.
    open_client(page, client_id)
    write(page, "SMS", "Reminder: please bring your insurance card.")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_url(re.compile(r"done=sent"))
    write(page, "Email", "Your paperwork is ready.", subject="From the front desk")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_url(re.compile(r"done=sent"))
    for text in ("Reminder: please bring your insurance card.", "Your paperwork is ready."):
        expect(message_in_thread(page, text).locator(".status")).to_have_text(
            "delivered", timeout=DELIVERY
        )

    # The client answers in crisis: first in the inbox, marked urgent; then in the thread.
    client_texts(live, PHONE, "I can't do this anymore, I want to end my life")
    page.goto("/app/inbox")
    first = conversations(page).first
    expect(first).to_contain_text("Noor Castellanos")
    expect(first.locator(".badge", has_text="Urgent")).to_be_visible()
    first.get_by_role("link", name="Noor Castellanos").click()
    expect(page.locator("#thread li.inbound")).to_contain_text("I want to end my life")

    # The audit log shows all of it, for this client.
    actions = _audited_actions(page, client_id)
    for expected in (
        "CLIENT_CREATED",
        "CALENDAR_EVENT_CREATED",
        "CLIENT_VIEWED",
        "SMS_QUEUED",
        "EMAIL_QUEUED",
        "SMS_STATUS_CHANGED",
        "EMAIL_STATUS_CHANGED",
        "SMS_RECEIVED",
        "URGENT_MESSAGE_RECEIVED",
        "MESSAGE_VIEWED",
        "URGENT_ACKNOWLEDGED",
    ):
        assert expected in actions, (expected, sorted(set(actions)))
    check_page(page, "audit-a-day")
    page.goto("/app/audit?action=CALENDAR_CONNECTED")
    cells = page.locator("table.audit tbody tr").locator("td:nth-child(2)")
    expect(cells).to_have_count(2)
