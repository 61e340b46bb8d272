"""Care teams and emergency access in the browser: an admin puts a clinician on a client's care
team from the client's page; a clinician outside it finds nothing, opens emergency access with a
reason, and reaches the client; the admin reviews the grant."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from tests.live import LiveStack
from tests.web.browser import DESKTOP, check_page
from tests.web.conftest import add_user, sign_in

CLIENT = {"first_name": "Imogen", "last_name": "Vasquez-Reyes", "timezone": "America/Chicago"}
OWNER = "dr.owner@lakeside.example.com"
COVERING = "dr.covering@lakeside.example.com"
REASON = "Covering the on-call phone: the client called in distress"


def _as(browser: Any, live: LiveStack, email: str) -> Any:
    context = browser.new_context(viewport=DESKTOP, base_url=live.app_url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, live, email)
    return page


def test_care_team_and_emergency_access(page: Any, browser: Any, live: LiveStack) -> None:
    owner_id = add_user(live, OWNER, "clinician")
    covering_id = add_user(live, COVERING, "clinician")
    with live.api() as api:
        client_id = api.post("/clients", json=CLIENT).json()["client"]["id"]

    # The admin assigns the owner from the client's page.
    page.goto(f"/app/clients/{client_id}")
    page.get_by_text("Change the care team").click()
    page.get_by_label(OWNER).check()
    page.get_by_role("button", name="Save the care team").click()
    expect(page.get_by_role("status")).to_have_text("Care team saved.")
    expect(page.locator("#care-team li")).to_have_text([OWNER])
    check_page(page, "client-care-team")

    owner = _as(browser, live, OWNER)
    owner.goto("/app/clients")
    expect(owner.get_by_role("link", name="Imogen Vasquez-Reyes")).to_be_visible()

    # Another clinician: not in their list, the page is not found; then emergency access.
    covering = _as(browser, live, COVERING)
    covering.goto("/app/clients")
    expect(covering.get_by_text("Vasquez-Reyes")).to_have_count(0)
    assert covering.goto(f"/app/clients/{client_id}").status == 404
    covering.goto(f"/app/break-glass?client_id={client_id}")
    check_page(covering, "break-glass-open")
    covering.get_by_label("Reason").fill(REASON)
    covering.get_by_label("For how many minutes").fill("30")
    covering.get_by_role("button", name="Open emergency access").click()
    covering.wait_for_url(f"**/app/clients/{client_id}?done=break_glass")
    expect(covering.get_by_role("heading", level=1)).to_have_text("Imogen Vasquez-Reyes")

    with Session(live.engine) as session:
        opened = session.scalars(
            select(AuditLog).where(
                AuditLog.action == "BREAK_GLASS_OPENED", AuditLog.actor_user_id == covering_id
            )
        ).one()
        used = session.scalars(
            select(AuditLog).where(
                AuditLog.action == "BREAK_GLASS_USED", AuditLog.actor_user_id == covering_id
            )
        ).all()
    assert opened.client_id == client_id
    assert used and {u.details["grant_id"] for u in used} == {opened.details["grant_id"]}
    assert owner_id != covering_id

    # The admin reviews it: who, which client, the reason; then marks it reviewed.
    page.goto("/app/break-glass")
    row = page.locator(f"#grant-{opened.details['grant_id']}")
    expect(row).to_contain_text(COVERING)
    expect(row).to_contain_text("Imogen Vasquez-Reyes")
    expect(row).to_contain_text(REASON)
    check_page(page, "break-glass-review")
    row.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_role("status")).to_have_text("Marked reviewed.")
    expect(page.locator(f"#grant-{opened.details['grant_id']}")).to_contain_text("Reviewed")
    for other in (owner, covering):
        other.context.close()
