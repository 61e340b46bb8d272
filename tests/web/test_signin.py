"""Signing in and out in the browser; the sandbox banner; pages behind the sign-in."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.live import LiveStack
from tests.web.browser import DESKTOP, check_page
from tests.web.conftest import PASSWORD, add_user

# An account without a second factor: the code step is tested in test_mfa.py.
FRONT_DESK = "frontdesk@lakeside.example.com"


def test_sign_in_page_then_today_then_sign_out(browser: Any, live: LiveStack) -> None:
    add_user(live, FRONT_DESK, "staff")
    context = browser.new_context(viewport=DESKTOP, base_url=live.app_url)
    page = context.new_page()
    page.goto(f"{live.app_url}/")
    # `/` opens onto the UI, which asks for a sign-in first.
    page.wait_for_url(re.compile(r"/app/signin\?next="))
    check_page(page, "signin")
    page.get_by_label("Email").fill(FRONT_DESK)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("That email and password")
    page.get_by_label("Email").fill(FRONT_DESK)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live.app_url}/app/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Today")
    banner = page.get_by_role("note")
    assert "Sandbox mode" in banner.inner_text()
    assert banner.get_by_role("link", name="See what would have been sent").is_visible()
    check_page(page, "today-empty")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/app/signin$"))
    page.goto(f"{live.app_url}/app/")
    page.wait_for_url(re.compile(r"/app/signin\?next="))
    context.close()


def test_a_form_without_its_csrf_token_changes_nothing(live: LiveStack) -> None:
    add_user(live, FRONT_DESK, "staff")
    with httpx.Client(base_url=live.app_url) as http:
        form = http.get("/app/signin")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed_in = http.post(
            "/app/signin",
            data={"csrf_token": token, "email": FRONT_DESK, "password": PASSWORD},
        )
        assert signed_in.status_code == 303
        # Signing out is a change: without the form's token it is refused, and the session
        # still works.
        refused = http.post("/app/signout", data={})
        assert refused.status_code == 403
        assert "expired" in refused.text
        assert http.get("/app/").status_code == 200


def test_sign_in_refuses_a_form_from_elsewhere(live: LiveStack) -> None:
    add_user(live, FRONT_DESK, "staff")
    with httpx.Client(base_url=live.app_url) as http:
        answer = http.post(
            "/app/signin", data={"csrf_token": "forged", "email": FRONT_DESK, "password": PASSWORD}
        )
        assert answer.status_code == 403
        assert "proirp_session" not in answer.cookies


def test_sign_in_goes_back_only_to_our_own_pages(live: LiveStack) -> None:
    add_user(live, FRONT_DESK, "staff")
    with httpx.Client(base_url=live.app_url) as http:
        form = http.get("/app/signin", params={"next": "https://evil.example.com/"})
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert "evil" not in form.text
        answer = http.post(
            "/app/signin",
            data={
                "csrf_token": token,
                "email": FRONT_DESK,
                "password": PASSWORD,
                "next": "//evil.example.com/",
            },
        )
        assert answer.headers["location"] == "/app/"
