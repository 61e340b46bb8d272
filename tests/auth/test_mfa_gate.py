"""An account that must have a second factor and has none (every admin; everyone when
MFA_REQUIRED_FOR_ALL is set) may, after its password, only enrol: every other route answers 403
`mfa_enrolment_required` and every other page sends the browser to the enrolment page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from proirp.auth.models import ApiToken, TokenKind
from proirp.auth.secrets import csrf_for, new_token, token_digest
from proirp.config import Settings
from proirp.kit.time import utcnow
from tests.auth.conftest import NewUser
from tests.auth.mfa_steps import bearer, log_in, phone_code
from tests.test_route_roles import PAGES, PROTECTED, Call, _page_request

# What an account held to enrolling may still call.
WHILE_ENROLLING = {
    ("GET", "/auth/me"),
    ("POST", "/auth/logout"),
    ("GET", "/auth/mfa"),
    ("POST", "/auth/mfa/enrolment"),
    ("POST", "/auth/mfa/enrolment/confirm"),
}
PAGES_WHILE_ENROLLING = {
    ("GET", "/app/mfa"),
    ("POST", "/app/mfa/enrol"),
    ("POST", "/app/mfa/confirm"),
    ("POST", "/app/signout"),
}
HELD = [
    pytest.param(Call(m, p), id=f"{m} {p}") for m, p in PROTECTED if (m, p) not in WHILE_ENROLLING
]
HELD_PAGES = [
    pytest.param(Call(m, p), id=f"{m} {p}") for m, p in PAGES if (m, p) not in PAGES_WHILE_ENROLLING
]


@pytest.fixture
def required_for_all(app: FastAPI, settings: Settings) -> Iterator[None]:
    """The practice sets MFA_REQUIRED_FOR_ALL=true."""
    app.state.settings = settings.model_copy(update={"mfa_required_for_all": True})
    yield
    app.state.settings = settings


def api_token(db: Session, user_id: str) -> str:
    token = new_token()
    db.add(
        ApiToken(
            user_id=user_id,
            token_hash=token_digest(token),
            kind=TokenKind.API,
            expires_at=utcnow() + timedelta(hours=1),
        )
    )
    db.commit()
    return token


@pytest.mark.parametrize("call", HELD)
def test_an_admin_without_a_second_factor_is_held_to_enrolling(
    api: TestClient, new_user: NewUser, call: Call
) -> None:
    admin = new_user(role="admin")
    signed_in = log_in(api, admin.email)
    assert signed_in.status_code == 200  # a session, that can only enrol
    answer = call.send(api, "0" * 32, bearer(signed_in.json()["token"]))
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "mfa_enrolment_required"


@pytest.mark.parametrize("call", HELD_PAGES)
def test_every_other_page_sends_such_an_admin_to_the_enrolment_page(
    api: TestClient, new_user: NewUser, call: Call
) -> None:
    admin = new_user(role="admin")
    token = log_in(api, admin.email).json()["token"]
    answer = _page_request(api, call, "0" * 32, token)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/mfa"


def test_enrolling_opens_everything_to_the_same_session(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    token = log_in(api, admin.email).json()["token"]
    headers = bearer(token)
    assert api.get("/auth/me", headers=headers).json()["user"]["id"] == admin.id
    status = api.get("/auth/mfa", headers=headers).json()["mfa"]
    assert (status["required"], status["enabled"]) == (True, False)
    refused = api.get("/audit-logs", headers=headers)
    assert refused.status_code == 403
    assert "set up two-step sign-in first" in refused.json()["error"]["message"]

    secret = api.post("/auth/mfa/enrolment", headers=headers).json()["enrolment"]["secret"]
    assert api.get("/audit-logs", headers=headers).status_code == 403  # not before it is confirmed
    confirmed = api.post(
        "/auth/mfa/enrolment/confirm", json={"code": phone_code(secret)}, headers=headers
    )
    assert confirmed.status_code == 200
    assert api.get("/audit-logs", headers=headers).status_code == 200
    assert api.get("/clients", headers=headers).status_code == 200


def test_an_admin_held_to_enrolling_can_sign_out(api: TestClient, new_user: NewUser) -> None:
    admin = new_user(role="admin")
    token = log_in(api, admin.email).json()["token"]
    assert api.post("/auth/logout", headers=bearer(token)).status_code == 200
    assert api.get("/auth/me", headers=bearer(token)).status_code == 401


def test_every_credential_is_held_not_only_a_session(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    answer = api.get("/clients", headers=bearer(api_token(db, admin.id)))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "mfa_enrolment_required"


def test_other_roles_need_none_unless_the_practice_requires_it(
    api: TestClient, new_user: NewUser
) -> None:
    for role in ("staff", "clinician"):
        token = log_in(api, new_user(role=role).email).json()["token"]
        assert api.get("/clients", headers=bearer(token)).status_code == 200
        assert api.get("/auth/mfa", headers=bearer(token)).json()["mfa"]["required"] is False


def test_the_setting_requires_it_of_everyone(
    api: TestClient, new_user: NewUser, required_for_all: None
) -> None:
    for role in ("staff", "clinician"):
        user = new_user(role=role)
        token = log_in(api, user.email).json()["token"]
        answer = api.get("/clients", headers=bearer(token))
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "mfa_enrolment_required"
        assert api.get("/auth/mfa", headers=bearer(token)).json()["mfa"]["required"] is True
        page = _page_request(api, Call("GET", "/app/clients"), "0" * 32, token)
        assert page.headers["location"] == "/app/mfa"
        assert _page_request(api, Call("GET", "/app/mfa"), "0" * 32, token).status_code == 200


def test_the_enrolment_page_then_the_recovery_codes_then_every_page(
    api: TestClient, new_user: NewUser
) -> None:
    """The UI's forms, without a browser (the browser's run is in tests/web/test_mfa.py)."""
    admin = new_user(role="admin")
    token = log_in(api, admin.email).json()["token"]
    api.cookies.set("proirp_session", token)
    try:
        intro = api.get("/app/mfa")
        assert "Your account needs two-step sign-in" in intro.text
        csrf = {"csrf_token": csrf_for(token)}
        started = api.post("/app/mfa/enrol", data=csrf, follow_redirects=False)
        assert started.status_code == 303
        shown = api.get("/app/mfa")
        assert "<svg" in shown.text and shown.headers["cache-control"] == "no-store"
        secret = shown.text.split('<code id="secret" class="secret">', 1)[1].split("<", 1)[0]
        wrong = api.post("/app/mfa/confirm", data={**csrf, "code": "000000"})
        assert wrong.status_code == 422 and "That code is not right" in wrong.text
        codes = api.post("/app/mfa/confirm", data={**csrf, "code": phone_code(secret)})
        assert codes.status_code == 200
        assert codes.text.count("<li><code>") == 10
        assert api.get("/app/clients", follow_redirects=False).status_code == 200
        settings_page = api.get("/app/settings")
        assert "Recovery codes left: 10" in settings_page.text
    finally:
        api.cookies.clear()
