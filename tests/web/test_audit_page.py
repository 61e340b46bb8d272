"""The audit log in the browser (admins only): filtered by action, by client, by staff member and
by dates, a page at a time, its own reading audited; the chain verified intact."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from proirp.audit.models import AuditLog
from proirp.kit.time import utcnow
from tests.live import LiveStack
from tests.web.browser import DESKTOP, check_page
from tests.web.conftest import add_user, sign_in

CLIENT = {
    "first_name": "Harper",
    "last_name": "Lindqvist",
    "timezone": "America/Chicago",
    "phone": "(202) 555-0171",
}


def _column(page: Any, index: int) -> list[str]:
    """The text of one column of the log's table, row by row."""
    return [
        cell.inner_text()
        for cell in page.locator("table.audit tbody tr").locator(f"td:nth-child({index})").all()
    ]


def _client_with_history(live: LiveStack) -> str:
    with live.api() as api:
        created = api.post("/clients", json=CLIENT)
        assert created.status_code == 201, created.text
        client_id: str = created.json()["client"]["id"]
        for _ in range(3):
            assert api.get(f"/clients/{client_id}").status_code == 200
    return client_id


def test_the_log_filtered_by_action_and_by_client_and_the_chain_verified(
    page: Any, live: LiveStack
) -> None:
    client_id = _client_with_history(live)
    other_id = _client_with_history(live)

    page.goto("/app/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    page.get_by_label("Action").select_option("CLIENT_CREATED")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/app/audit?*action=CLIENT_CREATED*")
    assert set(_column(page, 2)) == {"CLIENT_CREATED"}
    assert {client_id, other_id} <= set(_column(page, 4))
    check_page(page, "audit-by-action")

    # By client: every entry about that client, and none about another.
    page.get_by_label("Action").select_option("")
    page.get_by_label("Client id").fill(client_id)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"**/app/audit?*client_id={client_id}*")
    assert _column(page, 2) == ["CLIENT_VIEWED"] * 3 + ["CLIENT_CREATED"]
    assert set(_column(page, 4)) == {client_id}
    assert set(_column(page, 3)) == {"frontdesk@clinic.example.com"}  # who did it, by email
    check_page(page, "audit-by-client")

    # A page at a time, newest first: two, then the rest.
    page.goto(f"/app/audit?client_id={client_id}&limit=2")
    assert _column(page, 2) == ["CLIENT_VIEWED"] * 2
    page.get_by_role("link", name="Older entries").click()
    assert _column(page, 2) == ["CLIENT_VIEWED", "CLIENT_CREATED"]
    expect(page.get_by_role("link", name="Older entries")).to_have_count(0)

    # By staff member and dates (the practice's days): today has them, yesterday nothing.
    page.goto("/app/audit")
    page.get_by_label("Staff member").select_option(label="frontdesk@clinic.example.com")
    page.get_by_label("Client id").fill(other_id)
    today = utcnow().astimezone().date()
    page.get_by_label("From").fill((today - timedelta(days=1)).isoformat())
    page.get_by_label("To").fill((today + timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/app/audit?*until=*")
    assert len(_column(page, 2)) == 4
    yesterday = (today - timedelta(days=2)).isoformat()
    page.goto(f"/app/audit?client_id={other_id}&since={yesterday}&until={yesterday}")
    expect(page.get_by_text("No entries match.")).to_be_visible()

    # Reading the log is audited as GET /audit-logs is: the filters, never PHI.
    with live.session() as session:
        viewed = session.scalars(
            select(AuditLog).where(AuditLog.action == "AUDIT_LOG_VIEWED").order_by(AuditLog.id)
        ).all()
    assert {"action": "CLIENT_CREATED"} in [row.details["filters"] for row in viewed]
    assert any(row.details["filters"].get("client_id") == client_id for row in viewed)

    page.goto("/app/audit")
    page.get_by_role("button", name="Verify the chain").click()
    page.wait_for_url("**/app/audit/verify")
    outcome = page.get_by_role("status")
    expect(outcome).to_contain_text("The chain is intact")
    check_page(page, "audit-verified")
    with live.session() as session:
        verified = session.scalars(
            select(AuditLog).where(AuditLog.action == "AUDIT_CHAIN_VERIFIED")
        ).one()
    assert verified.details["intact"] is True
    assert verified.details["rows_checked"] > 10


def test_the_audit_log_is_for_admins_only(browser: Any, live: LiveStack) -> None:
    add_user(live, "frontdesk@lakeside.example.com", "staff")
    context = browser.new_context(viewport=DESKTOP, base_url=live.app_url)
    page = context.new_page()
    sign_in(page, live, "frontdesk@lakeside.example.com")
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Audit log")
    answer = page.goto("/app/audit")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("alert")).to_have_text("Your role may not open this page.")
    check_page(page, "audit-refused")
    context.close()
