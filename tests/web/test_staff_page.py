"""Staff accounts in the browser: an admin disables a clinician, whose open session ends on its
next page; enables them again and makes a reset link, with which the clinician chooses a new
password and signs in; and anyone signs out everywhere from Settings, upon which a page left
open elsewhere leaves by itself for the sign-in page."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from playwright.sync_api import expect

from tests.live import LiveStack
from tests.web.browser import DESKTOP, check_page
from tests.web.conftest import ADMIN_TOTP_SECRET, PASSWORD, add_user, sign_in

CLINICIAN = "leaver@lakeside.example.com"
NEW_PASSWORD = "plum lantern quietly orbits"


def _row(page: Any, email: str) -> Any:
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=email))


def _form(page: Any, row: Any, button: str) -> Any:
    return row.locator("form", has=page.get_by_role("button", name=button))


def test_disable_enable_and_a_reset_link_that_works_once(
    page: Any, browser: Any, live: LiveStack
) -> None:
    add_user(live, CLINICIAN, "clinician")
    theirs = browser.new_context(viewport=DESKTOP, base_url=live.app_url)
    theirs.set_default_timeout(15_000)
    clinician = theirs.new_page()
    sign_in(clinician, live, CLINICIAN)

    page.goto("/app/staff")
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff")
    check_page(page, "staff")
    row = _row(page, CLINICIAN)
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status")).to_contain_text("The account is disabled")
    expect(_row(page, CLINICIAN).get_by_text("Disabled", exact=True)).to_be_visible()

    # The clinician's open session is refused on its very next page.
    clinician.goto("/app/clients")
    clinician.wait_for_url(re.compile(r".*/app/signin\?next=.*"))

    _row(page, CLINICIAN).get_by_role("button", name="Enable").click()
    expect(page.get_by_role("status")).to_contain_text("enabled again")
    _row(page, CLINICIAN).get_by_role("button", name="Make a reset link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(CLINICIAN)
    link = page.get_by_label("The link").input_value()
    assert "/app/reset-password/pirst_" in link
    check_page(page, "staff-reset-link")

    clinician.goto(link)
    expect(clinician.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    check_page(clinician, "reset-password")
    clinician.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    clinician.get_by_label("The new password again").fill(NEW_PASSWORD)
    clinician.get_by_role("button", name="Set my password").click()
    expect(clinician.get_by_role("heading", level=1)).to_have_text("Your new password is set")

    clinician.goto(link)  # once only
    expect(clinician.get_by_role("alert")).to_contain_text("expired or was already used")
    clinician.goto("/app/signin")
    clinician.get_by_label("Email").fill(CLINICIAN)
    clinician.get_by_label("Password").fill(NEW_PASSWORD)
    clinician.get_by_role("button", name="Sign in").click()
    clinician.wait_for_url(f"{live.app_url}/app/")
    theirs.close()


def test_the_last_admin_is_told_why_they_cannot_step_down(page: Any, live: LiveStack) -> None:
    page.goto("/app/staff")
    # The stack's own admin, disabled for a moment, leaves this one the last active admin. A
    # change to an admin's account takes a code from this admin's app (each step's once).
    codes = pyotp.TOTP(ADMIN_TOTP_SECRET)
    page.once("dialog", lambda dialog: dialog.accept())
    stacks = _row(page, "frontdesk@clinic.example.com")
    _form(page, stacks, "Disable").get_by_label("Your code").fill(codes.now())
    stacks.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status")).to_contain_text("The account is disabled")

    row = _row(page, "admin@lakeside.example.com")
    row.get_by_label(re.compile("Role of")).select_option("staff")
    # The last-admin rule is told before the code is looked at.
    _form(page, row, "Change role").get_by_label("Your code").fill("000000")
    row.get_by_role("button", name="Change role").click()
    expect(page.get_by_role("alert")).to_contain_text("last active admin")
    page.goto("/app/staff")
    row = _row(page, "admin@lakeside.example.com")
    page.once("dialog", lambda dialog: dialog.accept())
    _form(page, row, "Disable").get_by_label("Your code").fill("000000")
    row.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("alert")).to_contain_text("last active admin")

    page.goto("/app/staff")
    stacks = _row(page, "frontdesk@clinic.example.com")
    _form(page, stacks, "Enable").get_by_label("Your code").fill(codes.at(time.time() + 30))
    stacks.get_by_role("button", name="Enable").click()
    expect(page.get_by_role("status")).to_contain_text("enabled again")


def test_sign_out_everywhere_ends_every_session(browser: Any, live: LiveStack) -> None:
    email = "twice@lakeside.example.com"
    add_user(live, email, "staff")
    pages = []
    for _ in range(2):
        context = browser.new_context(viewport=DESKTOP, base_url=live.app_url)
        context.set_default_timeout(15_000)
        pages.append(context.new_page())
        sign_in(pages[-1], live, email)
    first, second = pages
    second.goto("/app/inbox")  # left open: its live region polls

    first.goto("/app/settings")
    first.once("dialog", lambda dialog: dialog.accept())
    first.get_by_role("button", name="Sign out everywhere").click()
    first.wait_for_url(f"{live.app_url}/app/signin")
    # The open inbox leaves by itself for the sign-in page, which leads back to it.
    second.wait_for_url(re.compile(r".*/app/signin\?next=%2Fapp%2Finbox$"))
    second.get_by_label("Email").fill(email)
    second.get_by_label("Password").fill(PASSWORD)
    second.get_by_role("button", name="Sign in").click()
    second.wait_for_url(f"{live.app_url}/app/inbox")
    for p in pages:
        p.context.close()
