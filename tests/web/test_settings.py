"""Settings in the browser: connecting Google Calendar and Outlook through the sandbox's consent
pages, their sync status changing in place, sync now and disconnect; the channels' BAA; an
admin's reminder rules and inbox settings; what another role sees and may not do."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select, update

from proirp.auth.repository import user_by_email
from proirp.calendars.models import CalendarIntegration, CalendarSyncStatus
from proirp.kit.time import utcnow
from tests.live import LiveStack
from tests.web.browser import DESKTOP, check_page
from tests.web.calendar_steps import (
    SYNC_WAIT_MS,
    cached_events,
    connect_calendar,
    events_text,
    seed_google_event,
    sync_now,
    wait_until_ok,
)
from tests.web.conftest import ADMIN_EMAIL, add_user, sign_in


def _status(live: LiveStack, provider: str, **values: Any) -> None:
    """Change the admin's calendar's sync status in the database, as a sync would."""
    with live.session() as session:
        admin = user_by_email(session, ADMIN_EMAIL)
        assert admin is not None
        integration_id = session.scalar(
            select(CalendarIntegration.id).where(
                CalendarIntegration.provider == provider, CalendarIntegration.user_id == admin.id
            )
        )
        session.execute(
            update(CalendarSyncStatus)
            .where(CalendarSyncStatus.integration_id == integration_id)
            .values(**values)
        )
        session.commit()


def test_connect_both_calendars_then_sync_now_and_disconnect(page: Any, live: LiveStack) -> None:
    page.goto("/app/settings")
    assert page.get_by_text("No calendar is connected yet.").is_visible()

    # Deny on the consent page: nothing is connected, and the page says so.
    connect_calendar(page, "google", decision="Deny")
    expect(page.get_by_role("status")).to_have_text(
        "Google Calendar was not connected: access was not allowed on the consent page."
    )

    connect_calendar(page, "google")
    expect(page.get_by_role("status")).to_contain_text("Google Calendar is connected.")
    connect_calendar(page, "microsoft")  # Outlook, through the sandbox's Microsoft
    expect(page.get_by_role("status")).to_contain_text("Outlook is connected.")
    wait_until_ok(page, "google")
    wait_until_ok(page, "microsoft")
    calendars = page.locator("#calendar-status")
    expect(calendars.get_by_role("heading", level=3)).to_have_text(["Google Calendar", "Outlook"])
    expect(calendars).to_contain_text("clinician@sandbox.example.com")
    assert page.locator('[data-live-id="google-synced"]').inner_text() != "Never"
    check_page(page, "settings")

    # The live region follows the status without the page being loaded again.
    page.evaluate("window.stillThisPage = true")
    # (Backing off, as after a failure: the periodic sync leaves it alone meanwhile.)
    retry = utcnow() + timedelta(hours=1)
    _status(live, "google", last_error="Google answered 503 (try again later)", retry_after=retry)
    expect(page.locator('[data-live-id="google-status"]')).to_have_text("Error")
    expect(page.locator('[data-live-id="google-retry"]')).not_to_have_text("None waiting")
    expect(page.locator('[data-live-id="google-status"]')).to_have_attribute("data-state", "error")
    expect(page.locator('[data-live-id="google-error"]')).to_have_text(
        "Google answered 503 (try again later)"
    )
    _status(live, "google", syncing_since=utcnow())
    expect(page.locator('[data-live-id="google-status"]')).to_have_text("Syncing")
    _status(live, "google", syncing_since=None, last_error=None, retry_after=None)
    wait_until_ok(page, "google")
    expect(page.locator('[data-live-id="google-error"]')).to_have_text("None")
    assert page.evaluate("window.stillThisPage") is True

    # Sync now brings an event made in Google Calendar meanwhile.
    before = cached_events(page, "google")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    seed_google_event(live, "Team meeting", start, start + timedelta(hours=1))
    sync_now(page, "google")
    expect(page.get_by_role("status")).to_have_text(
        "A sync of Google Calendar has started: its status below changes when it is done."
    )
    expect(page.locator('[data-live-id="google-cached"]')).to_have_text(
        events_text(before + 1), timeout=SYNC_WAIT_MS
    )

    # Disconnect asks first; Microsoft keeps its permission until the user removes it there.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Disconnect Outlook").click()
    expect(calendars.get_by_role("heading", name="Outlook")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Disconnect Outlook").click()
    page.wait_for_url(re.compile(r"done=disconnected_not_revoked&provider=microsoft"))
    expect(page.get_by_role("status")).to_contain_text("Outlook is disconnected here.")
    expect(page.get_by_role("status")).to_contain_text("myapps.microsoft.com")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Disconnect Google Calendar").click()
    page.wait_for_url(re.compile(r"done=disconnected&provider=google"))
    expect(page.get_by_role("status")).to_contain_text("Google Calendar is disconnected")
    expect(calendars.get_by_role("heading", level=3)).to_have_count(0)
    expect(page.get_by_role("link", name="Connect Google Calendar")).to_be_visible()
    expect(page.get_by_role("link", name="Connect Outlook")).to_be_visible()
    with live.session() as session:
        assert session.scalars(select(CalendarIntegration)).all() == []


def test_the_channels_baa_is_said_in_plain_words(page: Any, live: LiveStack) -> None:
    page.goto("/app/settings")
    channels = page.locator("#channels")
    sms = channels.get_by_role("row", name=re.compile("^SMS"))
    expect(sms).to_contain_text("Twilio")
    expect(sms).to_contain_text("Not signed")
    expect(sms).to_contain_text("A text message that carries PHI")
    expect(sms).to_contain_text("is blocked and not sent")
    email = channels.get_by_role("row", name=re.compile("^Email"))
    expect(email).to_contain_text("SendGrid")
    expect(email).to_contain_text("Not signed")


def test_an_admin_changes_office_hours_urgent_words_and_on_call_address(
    page: Any, live: LiveStack
) -> None:
    page.goto("/app/settings")
    inbox = page.locator("#inbox")
    inbox.get_by_label("Monday opens").fill("08:30")
    inbox.get_by_label("Monday closes").fill("18:00")
    inbox.get_by_label("Friday opens").fill("")
    inbox.get_by_label("Friday closes").fill("")
    inbox.get_by_label("Saturday opens").fill("10:00")
    inbox.get_by_label("Saturday closes").fill("12:00")
    inbox.get_by_label("Urgent words and phrases, one a line").fill("no way out\n\noverdose\n")
    inbox.get_by_label("On-call address").fill("oncall@lakeside.example.com")
    inbox.get_by_label("Safety reply").fill("Call or text 988 now. Staff will read your message.")
    inbox.get_by_role("button", name="Save inbox settings").click()
    page.wait_for_url(re.compile(r"done=inbox_saved"))
    expect(page.get_by_role("status")).to_have_text("The inbox settings are saved.")
    expect(inbox.get_by_label("Monday opens")).to_have_value("08:30")
    expect(inbox.get_by_label("Saturday closes")).to_have_value("12:00")
    expect(inbox.get_by_label("Friday opens")).to_have_value("")
    expect(inbox.get_by_label("On-call address")).to_have_value("oncall@lakeside.example.com")
    expect(inbox.get_by_label("Urgent words and phrases, one a line")).to_have_value(
        "no way out\noverdose"
    )
    # The same settings the API serves.
    with live.api() as api:
        saved = api.get("/inbox/settings").json()["settings"]
    assert saved["office_hours"]["mon"] == {"start": "08:30", "end": "18:00"}
    assert saved["office_hours"]["sat"] == {"start": "10:00", "end": "12:00"}
    assert "fri" not in saved["office_hours"]
    assert saved["urgent_phrases"] == ["no way out", "overdose"]
    assert saved["on_call_email"] == "oncall@lakeside.example.com"
    assert saved["safety_reply"] == "Call or text 988 now. Staff will read your message."

    # A bad value is refused by name, and nothing is saved.
    inbox.get_by_label("Tuesday opens").fill("17:00")
    inbox.get_by_label("Tuesday closes").fill("09:00")
    inbox.get_by_label("The practice's time zone").fill("Mars/Olympus_Mons")
    inbox.get_by_label("On-call address").fill("")
    inbox.get_by_role("button", name="Save inbox settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("That was not done")
    fields = page.locator(".field-errors")
    expect(fields).to_contain_text("timezone")
    expect(fields).to_contain_text("office_hours.tue")
    check_page(page, "settings-refused")
    with live.api() as api:
        assert api.get("/inbox/settings").json()["settings"] == saved

    # Emptied, the on-call address is cleared.
    page.goto("/app/settings")
    inbox.get_by_label("On-call address").fill("")
    inbox.get_by_role("button", name="Save inbox settings").click()
    page.wait_for_url(re.compile(r"done=inbox_saved"))
    with live.api() as api:
        assert api.get("/inbox/settings").json()["settings"]["on_call_email"] is None


def test_an_admin_changes_the_reminder_rules(page: Any, live: LiveStack) -> None:
    page.goto("/app/settings")
    reminders = page.locator("#reminders")
    second = reminders.get_by_role("group", name=re.compile("^Rule 2"))
    expect(second).to_contain_text("SMS, 2 hours before")
    second.get_by_label("Minutes before the appointment").fill("180")
    third = reminders.get_by_role("group", name=re.compile("^Rule 3"))
    third.get_by_label("Remove this rule").check()
    new = reminders.get_by_role("group", name=re.compile("^A new rule"))
    new.get_by_label("Minutes before the appointment").fill("2880")
    new.get_by_label("Channel").select_option("email")
    reminders.get_by_label("Quiet hours start").fill("20:30")
    reminders.get_by_role("button", name="Save reminder rules").click()
    page.wait_for_url(re.compile(r"done=reminders_saved"))
    expect(page.get_by_role("status")).to_have_text("The reminder rules are saved.")
    expect(reminders.get_by_role("group", name=re.compile("email, 2 days before$"))).to_be_visible()
    expect(reminders.get_by_role("group", name=re.compile("SMS, 3 hours before$"))).to_be_visible()
    expect(reminders.get_by_role("group", name=re.compile("^Rule"))).to_have_count(3)
    with live.api() as api:
        saved = api.get("/reminders/rules").json()
    rules = {(r["channel"], r["offset_minutes"], r["enabled"]) for r in saved["rules"]}
    assert rules == {("sms", 1440, True), ("sms", 180, True), ("email", 2880, True)}
    assert saved["settings"]["quiet_hours_start"] == "20:30"

    # Refused as the API refuses it, naming the field.
    reminders.get_by_label("SMS reminder").fill("Hi {name}, see you {when}.")
    reminders.get_by_role("button", name="Save reminder rules").click()
    expect(page.locator(".field-errors")).to_contain_text("settings.sms_wording")
    with live.api() as api:
        assert api.get("/reminders/rules").json() == saved


def test_another_role_sees_only_their_calendars_and_may_not_change_the_practice(
    browser: Any, live: LiveStack
) -> None:
    email = "clinician@lakeside.example.com"
    add_user(live, email, "clinician")
    context = browser.new_context(viewport=DESKTOP, ignore_https_errors=True, base_url=live.app_url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, live, email)
    page.goto("/app/settings")
    expect(page.get_by_role("heading", name="Your calendars")).to_be_visible()
    expect(page.get_by_role("heading", name="Messaging channels and their BAA")).to_be_visible()
    expect(page.get_by_role("heading", name="Appointment reminders")).to_have_count(0)
    expect(page.get_by_role("heading", name=re.compile("^Inbox"))).to_have_count(0)
    expect(page.get_by_role("button", name="Save inbox settings")).to_have_count(0)
    check_page(page, "settings-clinician")

    token = page.locator('input[name="csrf_token"]').first.input_value()
    with live.api() as api:
        before = (api.get("/inbox/settings").json(), api.get("/reminders/rules").json())
    inbox = page.request.post(
        "/app/settings/inbox",
        form={"csrf_token": token, "on_call_email": "attacker@example.com", "timezone": "UTC"},
        max_redirects=0,
    )
    assert inbox.status == 403
    assert "Your role may not open this page." in inbox.text()
    reminders = page.request.post(
        "/app/settings/reminders", form={"csrf_token": token, "rule_count": "0"}, max_redirects=0
    )
    assert reminders.status == 403
    with live.api() as api:
        assert (api.get("/inbox/settings").json(), api.get("/reminders/rules").json()) == before
    context.close()
