"""A live stack in sandbox mode (no provider credentials: the product mounts its own sandbox,
as `make run` does) and a Chromium that signs in to it as each role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from proirp.auth.dependencies import CSRF_COOKIE, SESSION_COOKIE
from proirp.auth.mfa_models import SecondFactor
from proirp.auth.models import ApiToken, TokenKind, User
from proirp.auth.repository import user_by_email
from proirp.auth.secrets import csrf_for, hash_password, new_token, token_digest
from proirp.kit.time import utcnow
from tests.live import SANDBOX_MODE, LiveStack, live_stack
from tests.web.browser import DESKTOP, chromium, require_chromium

PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@lakeside.example.com"
ADMIN_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    require_chromium()  # no stack to start for tests that will skip
    with live_stack(tmp_path_factory.mktemp("web-live"), settings=SANDBOX_MODE) as stack:
        yield stack


def add_user(live: LiveStack, email: str, role: str, *, enrolled: bool = True) -> str:
    """A staff account that signs in with PASSWORD; its id. An admin has a second factor (every
    admin must; unless not `enrolled`): its secret is ADMIN_TOTP_SECRET."""
    with Session(live.engine) as session:
        existing = user_by_email(session, email)
        if existing is not None:
            return existing.id
        user = User(email=email, role=role, password_hash=hash_password(PASSWORD))
        session.add(user)
        session.flush()
        if role == "admin" and enrolled:
            session.add(
                SecondFactor(user_id=user.id, totp_secret=ADMIN_TOTP_SECRET, confirmed_at=utcnow())
            )
        session.commit()
        return user.id


def sign_in(page: Any, live: LiveStack, email: str) -> None:
    """Through the sign-in form, as an account without a second factor."""
    page.goto(f"{live.app_url}/app/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live.app_url}/app/")


def open_session(context: Any, live: LiveStack, user_id: str) -> None:
    """Signed in as the user without the forms (they are tested in test_signin.py and
    test_mfa.py; an admin's codes could each be used only once): a session as sign-in opens
    one, its cookies set in the browser."""
    token = new_token()
    with Session(live.engine) as session:
        session.add(
            ApiToken(
                user_id=user_id,
                token_hash=token_digest(token),
                kind=TokenKind.SESSION,
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
        session.commit()
    context.add_cookies(
        [
            {"name": SESSION_COOKIE, "value": token, "url": live.app_url},
            {"name": CSRF_COOKIE, "value": csrf_for(token), "url": live.app_url},
        ]
    )


@pytest.fixture
def page(browser: Any, live: LiveStack) -> Iterator[Any]:
    """A fresh browser context signed in as an admin."""
    admin_id = add_user(live, ADMIN_EMAIL, "admin")
    context = browser.new_context(viewport=DESKTOP, ignore_https_errors=True, base_url=live.app_url)
    context.set_default_timeout(15_000)
    open_session(context, live, admin_id)
    page = context.new_page()
    page.goto(f"{live.app_url}/app/")
    yield page
    context.close()
