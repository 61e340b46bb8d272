"""Campaigns in the browser: a 200-recipient SMS campaign previewed (an opted-out client shown
blocked, with the reason), sent, and followed to 100 % without reloading the page; a campaign
for clients picked from a search, scheduled, then cancelled; a campaign changed after its
preview is previewed again rather than sent."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import expect
from sqlalchemy import select

from proirp.clients.models import Client
from proirp.comms.models import Campaign, Communication
from proirp.kit.time import utcnow
from tests.live import SANDBOX_FROM, LiveStack
from tests.web.browser import check_page

OPTED_OUT_PHONE = "+13125559999"


def _add_clients(live: LiveStack, *people: tuple[str, str, str]) -> list[str]:
    """Clients who agreed to SMS (first name, last name, phone), in one insert."""
    rows = [
        Client(
            first_name=first,
            last_name=last,
            phone=phone,
            timezone="America/Chicago",
            sms_consent=True,
            sms_consent_source="intake form",
        )
        for first, last, phone in people
    ]
    with live.session() as session:
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def _reply_stop(live: LiveStack, phone: str) -> None:
    """The client texts STOP to the practice, through the sandbox the product serves."""
    answer = httpx.post(
        f"{live.app_url}/sandbox/twilio/_sandbox/inbound",
        auth=live.sandbox_auth,
        json={"from": phone, "to": SANDBOX_FROM, "body": "STOP"},
        timeout=30,
    )
    answer.raise_for_status()


def test_a_200_recipient_campaign_previewed_sent_and_followed_live(
    page: Any, live: LiveStack
) -> None:
    _add_clients(live, *[("Avery", f"Lakeview{i:03d}", f"+1312555{i:04d}") for i in range(199)])
    [opted_out] = _add_clients(live, ("Morgan", "Stopwell", OPTED_OUT_PHONE))
    _reply_stop(live, OPTED_OUT_PHONE)
    with live.api() as api:
        assert api.get(f"/clients/{opted_out}").json()["client"]["sms_opted_out"] is True

    page.goto("/app/campaigns")
    page.get_by_role("link", name="New campaign").click()
    page.wait_for_url("**/app/campaigns/new")
    check_page(page, "campaign-new")
    page.get_by_label("Name (seen by staff only; optional)").fill("Closed on Monday")
    page.get_by_label("SMS", exact=True).check()
    page.get_by_label("Every client who matches").check()
    page.get_by_label("Consented to SMS").select_option("yes")
    page.get_by_label("Text", exact=True).fill("Our office is closed on Monday.")
    page.get_by_label("Now", exact=True).check()
    page.get_by_role("button", name="Preview recipients").click()

    summary = page.locator("#preview-summary")
    expect(summary).to_contain_text("200 recipients: 199 will be sent it, 1 blocked")
    blocked = page.locator("#left-out tbody tr")
    expect(blocked).to_have_count(1)
    expect(blocked.locator("td")).to_have_text(
        ["Morgan Stopwell", "blocked", "The client opted out of SMS (replied STOP)."]
    )
    check_page(page, "campaign-preview")
    with live.session() as session:  # a preview writes nothing
        assert session.scalars(select(Campaign)).all() == []

    page.get_by_role("button", name="Send it now to 199 recipients").click()
    page.wait_for_url(re.compile(r"/app/campaigns/[0-9a-f]{32}\?done=started$"))
    campaign_id = page.url.split("/")[-1].split("?")[0]
    expect(page.get_by_role("status").first).to_have_text(
        "The campaign has started: its messages are going out."
    )
    progress = page.locator("#campaign-progress")
    # Opened while its messages were still going out; then followed by this same document.
    assert progress.evaluate("element => element.value") < 100
    page.evaluate("window.stillTheSamePage = true")
    expect(progress).to_have_js_property("value", 100, timeout=120_000)
    # The page followed it by itself: the same document, never reloaded.
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.locator("[data-live-id=status]")).to_have_text("Finished", timeout=30_000)
    expect(page.locator("[data-live-id=progress-text]")).to_have_text("100 %")
    expect(page.locator("#count-blocked")).to_have_text("1")
    expect(page.locator("#count-waiting")).to_have_text("0")
    left_out = page.get_by_role("table", name="Who did not get it").locator("tbody tr")
    expect(left_out).to_have_count(1)
    expect(left_out.locator("td")).to_have_text(
        ["Morgan Stopwell", "blocked", "The client opted out of SMS (replied STOP)."]
    )
    check_page(page, "campaign-finished")

    with live.session() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.total == 200
        messages = session.scalars(
            select(Communication).where(Communication.campaign_id == campaign_id)
        ).all()
    assert len(messages) == 200
    [stopped] = [m for m in messages if m.client_id == opted_out]
    assert stopped.status == "blocked"
    assert "opted out" in (stopped.status_reason or "")
    assert {m.status for m in messages if m.client_id != opted_out} <= {"sent", "delivered"}


def test_a_picked_campaign_scheduled_then_cancelled(page: Any, live: LiveStack) -> None:
    _add_clients(
        live,
        ("Rowan", "Tomorrowfield", "+12025550181"),
        ("Sasha", "Tomorrowfield", "+12025550182"),
    )
    page.goto("/app/campaigns/new")
    page.get_by_label("Find clients by name").fill("Tomorrowfield")
    page.get_by_role("button", name="Find clients").click()
    expect(page.get_by_label("Clients I pick")).to_be_checked()
    page.get_by_label("Rowan Tomorrowfield").check()
    page.get_by_label("Sasha Tomorrowfield").check()
    page.get_by_label("Text", exact=True).fill("Our office opens late on Friday.")
    page.get_by_label("At a time").check()
    zone = ZoneInfo("America/Chicago")
    when = (utcnow().astimezone(zone) + timedelta(days=1)).replace(hour=10, minute=0)
    page.get_by_label("Date and time (America/Chicago)").fill(when.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Preview recipients").click()
    expect(page.locator("#preview-summary")).to_contain_text("2 recipients: 2 will be sent it")
    expect(page.get_by_label("Rowan Tomorrowfield")).to_be_checked()  # picked stays picked

    # Changed after its preview: previewed again, not scheduled.
    page.get_by_label("Text", exact=True).fill("Our office opens at 10 on Friday.")
    page.get_by_role("button", name="Schedule it for 2 recipients").click()
    expect(page.get_by_role("status").first).to_contain_text("changed after its preview")
    with live.session() as session:
        assert session.scalars(select(Campaign).where(Campaign.send_at.is_not(None))).all() == []

    page.get_by_role("button", name="Schedule it for 2 recipients").click()
    page.wait_for_url(re.compile(r"/app/campaigns/[0-9a-f]{32}\?done=scheduled$"))
    campaign_id = page.url.split("/")[-1].split("?")[0]
    expect(page.locator("[data-live-id=status]")).to_have_text("Scheduled")
    expect(page.get_by_text(when.strftime("%-d %b %Y 10:00"))).to_be_visible()
    check_page(page, "campaign-scheduled")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel the campaign").click()
    page.wait_for_url(f"**/app/campaigns/{campaign_id}?done=cancelled")
    expect(page.locator("[data-live-id=status]")).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Cancel the campaign")).to_have_count(0)
    with live.session() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "cancelled"
        assert campaign.body == "Our office opens at 10 on Friday."
        sent = select(Communication).where(Communication.campaign_id == campaign_id)
        assert session.scalars(sent).all() == []

    page.goto("/app/campaigns")
    expect(page.get_by_role("row").filter(has_text="Cancelled")).to_have_count(1)
    check_page(page, "campaigns")
