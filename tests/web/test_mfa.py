"""Two-step sign-in in the browser: an admin without a second factor is sent to enrol (QR code,
a code to confirm, recovery codes shown once), then signs in with a code, or a recovery code
once. The live stack runs in real time: codes are made with pyotp as the phone makes them."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from playwright.sync_api import expect

from tests.live import LiveStack
from tests.web.browser import DESKTOP, check_page
from tests.web.conftest import PASSWORD, add_user

OWNER = "owner@lakeside.example.com"


def code_ahead(secret: str) -> str:
    """The code of the next 30-second step, as a phone whose clock runs a little ahead shows it:
    never the step just used to enrol, however quickly the test signs in again."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def code_an_hour_off(secret: str) -> str:
    """A wrong code: an hour off, far beyond the drift allowed."""
    return pyotp.TOTP(secret).at(time.time() + 3600)


def password_step(page: Any, live: LiveStack, email: str) -> None:
    page.goto(f"{live.app_url}/app/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_enrols_then_signs_in_with_a_code_or_a_recovery_code_once(
    browser: Any, live: LiveStack
) -> None:
    add_user(live, OWNER, "admin", enrolled=False)
    context = browser.new_context(viewport=DESKTOP, base_url=live.app_url)
    context.set_default_timeout(15_000)
    page = context.new_page()

    # The password opens a session that can only enrol: every page leads to the enrolment page.
    password_step(page, live, OWNER)
    page.wait_for_url(f"{live.app_url}/app/mfa")
    expect(page.get_by_role("status")).to_contain_text("Your account needs two-step sign-in")
    page.goto(f"{live.app_url}/app/clients")
    page.wait_for_url(f"{live.app_url}/app/mfa")
    page.get_by_role("button", name="Set up two-step sign-in").click()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    check_page(page, "mfa-enrol")
    secret = page.locator("#secret").inner_text()

    page.get_by_label("6-digit code").fill(code_an_hour_off(secret))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    codes = page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    check_page(page, "mfa-recovery-codes")
    page.get_by_role("link", name="I have kept them: continue").click()
    page.wait_for_url(f"{live.app_url}/app/")
    page.goto(f"{live.app_url}/app/settings")
    section = page.locator("#two-step")
    expect(section).to_contain_text("Recovery codes left: 10")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(re.compile(r"/app/signin$"))

    # Signing in: the password, then the code the app shows.
    password_step(page, live, OWNER)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in: your code")
    check_page(page, "signin-code")
    page.get_by_label("Code").fill(code_an_hour_off(secret))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    page.get_by_label("Code").fill(code_ahead(secret))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{live.app_url}/app/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(re.compile(r"/app/signin$"))

    # A recovery code signs in once.
    for attempt in ("first", "second"):
        password_step(page, live, OWNER)
        page.get_by_label("Code").fill(codes[0])
        page.get_by_role("button", name="Continue").click()
        if attempt == "first":
            page.wait_for_url(f"{live.app_url}/app/")
            page.get_by_role("button", name="Sign out", exact=True).click()
            page.wait_for_url(re.compile(r"/app/signin$"))
        else:
            expect(page.get_by_role("alert")).to_contain_text("That code is not right")
            expect(page).to_have_url(re.compile(r"/app/signin/code$"))
    context.close()
