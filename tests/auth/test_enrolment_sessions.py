"""An enrolment belongs to the session that started it: another session of the account (opened
with the password alone, perhaps by someone who has it) neither sees its secret nor confirms it,
and confirming it ends every other session and token of the account, which were opened without
a second factor and would otherwise become full sessions the moment it is on."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.auth.mfa_models import SecondFactor
from proirp.auth.secrets import csrf_for
from tests.auth.conftest import NewUser
from tests.auth.mfa_steps import bearer, log_in, phone_code


def _signed_in(api: TestClient, email: str) -> str:
    answer = log_in(api, email)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


def _started(api: TestClient, token: str) -> str:
    started = api.post("/auth/mfa/enrolment", headers=bearer(token))
    assert started.status_code == 201, started.text
    secret: str = started.json()["enrolment"]["secret"]
    return secret


def test_another_session_neither_sees_nor_confirms_the_enrolment(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    theirs, mine = _signed_in(api, admin.email), _signed_in(api, admin.email)
    secret = _started(api, mine)

    api.cookies.set("proirp_session", theirs)
    page = api.get("/app/mfa")
    api.cookies.clear()
    assert page.status_code == 200
    assert secret not in page.text

    confirmed = api.post(
        "/auth/mfa/enrolment/confirm", json={"code": phone_code(secret)}, headers=bearer(theirs)
    )
    assert confirmed.status_code == 409, confirmed.text
    assert confirmed.json()["error"]["code"] == "mfa_enrolment_not_started"
    # The session that started it still finishes it.
    done = api.post(
        "/auth/mfa/enrolment/confirm", json={"code": phone_code(secret)}, headers=bearer(mine)
    )
    assert done.status_code == 200, done.text


def test_turning_it_on_ends_the_accounts_other_sessions(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    other, mine = _signed_in(api, admin.email), _signed_in(api, admin.email)
    assert api.get("/users", headers=bearer(other)).status_code == 403  # held to enrolling
    secret = _started(api, mine)
    done = api.post(
        "/auth/mfa/enrolment/confirm", json={"code": phone_code(secret)}, headers=bearer(mine)
    )
    assert done.status_code == 200, done.text

    assert api.get("/users", headers=bearer(other)).status_code == 401
    assert api.get("/auth/me", headers=bearer(other)).status_code == 401
    assert api.get("/users", headers=bearer(mine)).status_code == 200


def test_the_page_that_started_it_shows_its_secret_and_no_other(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    other, mine = _signed_in(api, admin.email), _signed_in(api, admin.email)
    api.cookies.set("proirp_session", mine)
    form = {"csrf_token": csrf_for(mine)}
    assert api.post("/app/mfa/enrol", data=form, follow_redirects=False).status_code == 303
    secret = db.scalar(select(SecondFactor.totp_secret).where(SecondFactor.user_id == admin.id))
    assert secret is not None
    assert secret in api.get("/app/mfa").text
    api.cookies.set("proirp_session", other)
    assert secret not in api.get("/app/mfa").text
    api.cookies.clear()
