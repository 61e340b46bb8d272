"""Steps the Settings and Calendar page tests share: connecting a calendar through the sandbox's
consent page in the browser, and events put in the sandbox's Google calendar "by hand"."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
from playwright.sync_api import expect

from proirp.config.sandbox_credentials import SANDBOX_GOOGLE_CLIENT_ID, SANDBOX_GOOGLE_CLIENT_SECRET
from tests.live import LiveStack

GOOGLE_ACCOUNT = "clinician@sandbox.example.com"  # the sandbox's consent page's default
LABELS = {"google": "Google Calendar", "microsoft": "Outlook"}
SYNC_WAIT_MS = 30_000


def connect_calendar(page: Any, provider: str, *, decision: str = "Allow") -> None:
    """From Settings, through the provider's (the sandbox's) consent page, back to Settings."""
    page.goto("/app/settings")
    page.get_by_role("link", name=f"Connect {LABELS[provider]}", exact=True).click()
    page.wait_for_url(re.compile(rf"/sandbox/{provider}/"))
    page.get_by_role("button", name=decision).click()
    outcome = "connected" if decision == "Allow" else "denied"
    page.wait_for_url(re.compile(rf"/app/settings\?provider={provider}&outcome={outcome}"))


def wait_until_ok(page: Any, provider: str) -> None:
    """The calendar's status on Settings reads OK (its live region updates it)."""
    expect(page.locator(f'[data-live-id="{provider}-status"]')).to_have_text(
        "OK", timeout=SYNC_WAIT_MS
    )


def ensure_connected(page: Any, provider: str = "google") -> None:
    page.goto("/app/settings")
    if page.get_by_role("heading", name=LABELS[provider], exact=True).count() == 0:
        connect_calendar(page, provider)
    wait_until_ok(page, provider)


def cached_events(page: Any, provider: str) -> int:
    text = page.locator(f'[data-live-id="{provider}-cached"]').inner_text()
    return int(text.split()[0])


def events_text(count: int) -> str:
    return "1 event" if count == 1 else f"{count} events"


def sync_now(page: Any, provider: str = "google", *, events: int | None = None) -> None:
    """Sync now on Settings; with `events`, wait until the calendar holds that many."""
    page.goto("/app/settings")
    wait_until_ok(page, provider)
    page.get_by_role("button", name=f"Sync {LABELS[provider]} now").click()
    page.wait_for_url(re.compile(r"done=sync_started"))
    if events is not None:
        expect(page.locator(f'[data-live-id="{provider}-cached"]')).to_have_text(
            events_text(events), timeout=SYNC_WAIT_MS
        )


def seed_google_event(live: LiveStack, title: str, start: datetime, end: datetime) -> str:
    """An event made in the (embedded sandbox's) Google Calendar, not through the product."""
    with httpx.Client(
        base_url=f"{live.app_url}/sandbox/google/_sandbox",
        auth=(SANDBOX_GOOGLE_CLIENT_ID, SANDBOX_GOOGLE_CLIENT_SECRET),
        timeout=30,
    ) as google:
        answer = google.post(
            "/events",
            json={
                "account": GOOGLE_ACCOUNT,
                "events": [
                    {
                        "summary": title,
                        "start": {"dateTime": start.isoformat()},
                        "end": {"dateTime": end.isoformat()},
                    }
                ],
            },
        )
        answer.raise_for_status()
        [event_id] = answer.json()["ids"]
        return str(event_id)
