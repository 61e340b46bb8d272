"""A staff notice end to end: `proirp serve` and the provider sandbox as real processes; the
worker's `notices.send` (on its minute) finds a calendar needing connecting again, and its email
reaches the sandbox's SendGrid, PHI-free, with the link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from proirp.auth.models import User
from proirp.calendars.models import CalendarIntegration
from proirp.comms.models import Communication, Purpose
from proirp.kit.time import utcnow
from tests.live import LiveStack, live_stack, wait_until

OWNER = "dr.rivera@clinic.example.com"
ACCESS_TOKEN = "ya29.live-secret-token"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveStack]:
    with live_stack(tmp_path) as stack:
        yield stack


def test_a_calendar_to_connect_again_is_emailed_to_its_owner_through_sendgrid(
    live: LiveStack,
) -> None:
    with live.session() as session:
        owner = User(email=OWNER, role="clinician", password_hash="x")
        session.add(owner)
        session.flush()
        session.add(
            CalendarIntegration(
                user_id=owner.id,
                provider="google",
                status="needs_reauth",
                needs_reauth_since=utcnow(),
                access_token=ACCESS_TOKEN,
            )
        )
        session.commit()
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        found[:] = [copy for copy in live.email_ledger() if copy["to"] == OWNER]
        return bool(found)

    # The job runs at the start of every minute; give it one, and the delivery a little more.
    assert wait_until(arrived, timeout=100, interval=1), "no notice reached the sandbox"
    [copy] = found
    assert copy["subject"] == "Connect your Google calendar to Pro IRP again"
    assert f"{live.app_url}/app/settings" in copy["text"]
    assert ACCESS_TOKEN not in copy["text"]
    with live.session() as session:
        stmt = select(Communication).where(Communication.purpose == Purpose.STAFF_NOTICE)
        [comm] = session.scalars(stmt).all()
    assert comm.to_address == OWNER and copy["custom_args"] == {"communication_id": comm.id}
