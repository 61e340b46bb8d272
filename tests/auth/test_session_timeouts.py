"""Automatic logoff with the tests' clock: a session unused for SESSION_IDLE_MINUTES ends, and
one in use still ends SESSION_TTL_HOURS after sign-in; `last_used_at` is written at most once a
minute; "sign out everywhere" ends every session and token of one's own; a 401 says why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.models import ApiToken
from proirp.auth.secrets import token_digest
from proirp.config import Settings
from proirp.kit.time import Clock, set_clock
from tests.auth.conftest import NewUser
from tests.factories import PASSWORD, create_staff

START = datetime(2030, 3, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[Clock]:
    with set_clock(START) as clock:
        yield clock


def sign_in(api: TestClient, email: str) -> str:
    response = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def me(api: TestClient, token: str) -> int:
    return api.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def row_of(db: Session, token: str) -> ApiToken:
    db.expire_all()
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    assert row is not None
    return row


def test_the_idle_timeout_is_fifteen_minutes_by_default(settings: Settings) -> None:
    assert settings.session_idle_minutes == 15


def test_a_session_left_alone_ends_after_the_idle_timeout(
    api: TestClient, new_user: NewUser, clock: Clock, settings: Settings
) -> None:
    idle = timedelta(minutes=settings.session_idle_minutes)
    token = sign_in(api, new_user().email)
    api.cookies.clear()
    clock.advance(idle - timedelta(seconds=1))
    assert me(api, token) == 200  # used just in time: the idle time starts again

    clock.advance(idle - timedelta(seconds=1))
    assert me(api, token) == 200
    clock.advance(idle)
    response = api.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="proirp", error="invalid_token"'


def test_the_session_cookie_times_out_too_and_the_page_asks_to_sign_in(
    api: TestClient, new_user: NewUser, clock: Clock, settings: Settings
) -> None:
    sign_in(api, new_user().email)  # the cookie stays on `api`
    assert api.get("/app/", follow_redirects=False).status_code == 200
    clock.advance(timedelta(minutes=settings.session_idle_minutes))
    assert api.get("/auth/me").status_code == 401
    page = api.get("/app/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/app/signin")


def test_a_session_in_use_still_ends_at_its_absolute_lifetime(
    api: TestClient, new_user: NewUser, clock: Clock, settings: Settings
) -> None:
    token = sign_in(api, new_user().email)
    api.cookies.clear()
    lifetime = timedelta(hours=settings.session_ttl_hours)
    step = timedelta(minutes=settings.session_idle_minutes - 1)
    used = timedelta(0)
    while used + step < lifetime:
        clock.advance(step)
        used += step
        assert me(api, token) == 200, f"refused after {used} in use"
    clock.advance(lifetime - used)
    assert me(api, token) == 401


def test_last_use_is_written_at_most_once_a_minute_and_counts_from_then(
    api: TestClient, db: Session, new_user: NewUser, clock: Clock, settings: Settings
) -> None:
    token = sign_in(api, new_user().email)
    api.cookies.clear()
    assert row_of(db, token).last_used_at is None  # signing in is not a use

    assert me(api, token) == 200
    assert row_of(db, token).last_used_at == START
    clock.advance(timedelta(seconds=59))
    assert me(api, token) == 200
    assert row_of(db, token).last_used_at == START  # no write within the minute
    clock.advance(timedelta(seconds=1))
    assert me(api, token) == 200
    written = START + timedelta(minutes=1)
    assert row_of(db, token).last_used_at == written

    # The unrecorded use at 1:59 does not count: the session ends the idle time after 1:00,
    # at most the minute early that the write is spared.
    clock.advance(timedelta(seconds=59))
    assert me(api, token) == 200
    clock.advance(written + timedelta(minutes=settings.session_idle_minutes) - clock.now())
    assert me(api, token) == 401


def test_api_tokens_keep_their_last_use_but_have_no_idle_timeout(
    api: TestClient, db: Session, clock: Clock
) -> None:
    program = create_staff(db)  # an API token, valid for an hour
    db.commit()
    clock.advance(timedelta(minutes=50))
    assert api.get("/auth/me", headers=program.headers).status_code == 200
    assert row_of(db, program.token).last_used_at == START + timedelta(minutes=50)
    clock.advance(timedelta(minutes=11))
    assert api.get("/auth/me", headers=program.headers).status_code == 401  # its expiry


def test_signing_out_everywhere_ends_every_session_and_token(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    user = new_user()
    laptop = sign_in(api, user.email)
    api.cookies.clear()
    phone = sign_in(api, user.email)  # its cookie stays on `api`
    csrf = api.cookies["proirp_csrf"]
    program = create_staff(db)
    row = row_of(db, program.token)
    row.user_id = user.id
    someone_else = create_staff(db)
    db.commit()

    response = api.post("/auth/logout-everywhere", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    assert response.json() == {"ok": True, "sessions_ended": 3}
    assert "proirp_session" in " ".join(response.headers.get_list("set-cookie"))
    for token in (laptop, phone, program.token):
        assert me(api, token) == 401
    assert me(api, someone_else.token) == 200
    [audit] = db.scalars(select(AuditLog).where(AuditLog.action == "SIGNED_OUT_EVERYWHERE"))
    assert audit.actor_user_id == user.id
    assert audit.details == {"user_id": user.id, "sessions_ended": 3}


def test_a_wrong_password_answers_with_a_challenge(api: TestClient, new_user: NewUser) -> None:
    response = api.post("/auth/login", json={"email": new_user().email, "password": "nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="proirp"'


def test_a_page_polling_by_itself_does_not_keep_the_session_open(
    api: TestClient, new_user: NewUser, clock: Clock, settings: Settings
) -> None:
    sign_in(api, new_user().email)  # the cookie stays on `api`
    assert api.get("/app/settings").status_code == 200  # the person's last own request
    idle = timedelta(minutes=settings.session_idle_minutes)
    polled = timedelta(0)
    while polled + timedelta(minutes=2) < idle:
        clock.advance(timedelta(minutes=2))
        polled += timedelta(minutes=2)
        live = api.get("/app/live/calendars", follow_redirects=False)
        assert live.status_code == 200
        swap = api.get("/app/settings", headers={"X-Live-Update": "1"}, follow_redirects=False)
        assert swap.status_code == 200  # app.js fetching the page again to swap a region in
    clock.advance(idle - polled)
    ended = api.get("/app/live/calendars", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/app/signin")
