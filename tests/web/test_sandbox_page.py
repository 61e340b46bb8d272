"""Sandbox mode: the outbox shows what would have been sent; staff can text as a client."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from proirp.audit.models import AuditLog
from proirp.comms.models import Communication
from tests.live import LiveStack, wait_until
from tests.web.browser import check_page

PHONE = "+12025550177"


def _client(live: LiveStack) -> str:
    with live.api() as api:
        answer = api.post(
            "/clients",
            json={
                "first_name": "Rowan",
                "last_name": "Vale",
                "phone": PHONE,
                "timezone": "America/Chicago",
                "sms_consent": True,
                "consent_source": "intake form",
            },
        )
        assert answer.status_code == 201, answer.text
        client_id: str = answer.json()["client"]["id"]
        return client_id


def test_the_outbox_shows_what_was_sent_and_a_made_up_reply_reaches_the_product(
    page: Any, live: LiveStack
) -> None:
    client_id = _client(live)
    with live.api() as api:
        sent = api.post(
            "/comms", json={"client_id": client_id, "type": "sms", "body": "See you Tuesday"}
        )
        assert sent.status_code == 202, sent.text
    page.goto("/app/")
    page.get_by_role("link", name="See what would have been sent").click()
    page.get_by_role("heading", name="What would have been sent").wait_for()

    def listed() -> bool:
        page.reload()
        return page.get_by_role("cell", name="See you Tuesday").count() == 1

    assert wait_until(listed, timeout=20, interval=0.5)

    page.get_by_label("From (the client's phone number)").fill(PHONE)
    page.get_by_label("Text", exact=True).fill("Thanks, I will be there")
    page.get_by_role("button", name="Send as the client").click()
    page.get_by_role("status").get_by_text("The sandbox delivered").wait_for()
    with live.session() as session:
        received = session.scalars(
            select(Communication).where(
                Communication.direction == "inbound", Communication.client_id == client_id
            )
        ).all()
        assert [row.body for row in received] == ["Thanks, I will be there"]
        assert session.scalars(
            select(AuditLog).where(AuditLog.action == "SANDBOX_OUTBOX_VIEWED")
        ).first()
    check_page(page, "sandbox-outbox")


def test_a_made_up_text_names_the_field_at_fault(page: Any, live: LiveStack) -> None:
    page.goto("/app/sandbox")
    page.get_by_label("From (the client's phone number)").fill("not a number")
    page.get_by_label("Text", exact=True).fill("Hello")
    page.get_by_role("button", name="Send as the client").click()
    alert = page.get_by_role("alert")
    assert "not sent" in alert.inner_text()
    assert "from" in page.locator(".field-errors").inner_text()
