"""A live stack in sandbox mode (no provider credentials: the product mounts its own sandbox,
as `make run` does) and a Chromium that signs in to it as each role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from proirp.auth.models import User
from proirp.auth.secrets import hash_password
from tests.live import SANDBOX_MODE, LiveStack, live_stack
from tests.web.browser import DESKTOP, chromium, require_chromium

PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@lakeside.example.com"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    require_chromium()  # no stack to start for tests that will skip
    with live_stack(tmp_path_factory.mktemp("web-live"), settings=SANDBOX_MODE) as stack:
        yield stack


def add_user(live: LiveStack, email: str, role: str) -> str:
    """A staff account that signs in with PASSWORD; its id."""
    with Session(live.engine) as session:
        existing = session.query(User).filter_by(email=email).one_or_none()
        if existing is not None:
            return existing.id
        user = User(email=email, role=role, password_hash=hash_password(PASSWORD))
        session.add(user)
        session.commit()
        return user.id


def sign_in(page: Any, live: LiveStack, email: str) -> None:
    page.goto(f"{live.app_url}/app/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live.app_url}/app/")


@pytest.fixture
def page(browser: Any, live: LiveStack) -> Iterator[Any]:
    """A fresh browser context signed in as an admin."""
    add_user(live, ADMIN_EMAIL, "admin")
    context = browser.new_context(viewport=DESKTOP, ignore_https_errors=True, base_url=live.app_url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, live, ADMIN_EMAIL)
    yield page
    context.close()
