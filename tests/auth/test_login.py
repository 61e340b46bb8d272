"""POST /auth/login: token and cookies, CSRF for cookie changes, refusals audited and throttled."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.models import ApiToken
from proirp.auth.secrets import token_digest
from proirp.auth.throttle import LoginThrottle
from proirp.clients.models import Client
from proirp.config import Settings
from proirp.kit.time import utcnow
from tests.auth.conftest import NewUser
from tests.factories import PASSWORD

WRONG_PASSWORD = "not the password at all"


def log_in(api: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return api.post("/auth/login", json={"email": email, "password": password})


def audit_rows(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def session_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(ApiToken)) or 0


def cookie_lines(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie lines by cookie name."""
    lines = response.headers.get_list("set-cookie")
    return {line.split("=", 1)[0]: line for line in lines}


def test_login_returns_a_token_and_sets_the_session_cookies(
    api: TestClient, db: Session, new_user: NewUser, settings: Settings
) -> None:
    user = new_user(role="clinician")
    response = log_in(api, user.email)

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["token"] and body["csrf_token"]
    assert body["user"]["id"] == user.id
    assert body["user"]["role"] == "clinician"
    assert "password_hash" not in body["user"]
    cookies = cookie_lines(response)
    session_cookie = cookies["proirp_session"].lower()
    assert "httponly" in session_cookie and "samesite=lax" in session_cookie
    assert f"max-age={settings.session_ttl_hours * 3600}" in session_cookie
    assert "httponly" not in cookies["proirp_csrf"].lower()  # the page's script must read it
    assert response.cookies["proirp_session"] == body["token"]
    assert response.cookies["proirp_csrf"] == body["csrf_token"]

    # Only the token's digest is stored, and it expires with the session.
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(body["token"])))
    assert row is not None and row.kind == "session" and row.user_id == user.id
    assert row.expires_at is not None
    expected_expiry = utcnow() + timedelta(hours=settings.session_ttl_hours)
    assert abs(row.expires_at - expected_expiry) < timedelta(minutes=1)
    assert db.scalar(select(ApiToken).where(ApiToken.token_hash == body["token"])) is None

    [audit] = audit_rows(db, "LOGIN_SUCCEEDED")
    assert audit.actor_user_id == user.id
    db.refresh(user)
    assert user.last_login_at is not None


def test_the_token_works_as_a_bearer_token(api: TestClient, new_user: NewUser) -> None:
    user = new_user()
    token = log_in(api, user.email).json()["token"]
    api.cookies.clear()

    response = api.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["user"]["id"] == user.id


def test_the_session_cookie_works_for_reads(api: TestClient, new_user: NewUser) -> None:
    user = new_user()
    assert log_in(api, user.email).status_code == 200

    response = api.get("/auth/me")  # no Authorization header: the cookie alone
    assert response.status_code == 200
    assert response.json()["user"]["id"] == user.id


def test_a_change_made_with_the_cookie_needs_the_csrf_header(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    user = new_user()
    csrf = log_in(api, user.email).json()["csrf_token"]
    body = {"first_name": "Robin", "last_name": "Hale", "timezone": "UTC"}

    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": ""}):
        refused = api.post("/clients", json=body, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_failed"
    assert db.scalar(select(func.count()).select_from(Client)) == 0

    accepted = api.post("/clients", json=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201
    assert accepted.json()["client"]["last_name"] == "Hale"


def test_the_email_is_matched_whatever_its_case(api: TestClient, new_user: NewUser) -> None:
    user = new_user()
    response = log_in(api, f"  {user.email.upper()} ")
    assert response.status_code == 200
    assert response.json()["user"]["id"] == user.id


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert "token" not in response.json()
    assert "set-cookie" not in response.headers


def test_a_wrong_password_is_refused_and_audited_without_secrets(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    user = new_user()
    response = log_in(api, user.email, WRONG_PASSWORD)

    _assert_refused(response)
    assert session_count(db) == 0
    [audit] = audit_rows(db, "LOGIN_FAILED")
    assert audit.actor_user_id == user.id
    assert audit.details == {"reason": "bad"}
    row_text = json.dumps([audit.details, audit.user_agent, audit.ip])
    assert WRONG_PASSWORD not in row_text
    assert user.email not in row_text


def test_an_unknown_email_is_refused_like_a_wrong_password(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    user = new_user()
    known = log_in(api, user.email, WRONG_PASSWORD)
    unknown = log_in(api, "nobody-" + user.email, WRONG_PASSWORD)

    _assert_refused(unknown)
    assert unknown.json() == known.json()  # nothing tells whether the account exists
    unknown_row = audit_rows(db, "LOGIN_FAILED")[-1]
    assert unknown_row.actor_user_id is None
    assert unknown_row.details == {"reason": "unknown_user"}
    assert "nobody-" not in json.dumps(unknown_row.details)


def test_repeated_failures_throttle_the_account(
    api: TestClient, db: Session, new_user: NewUser, settings: Settings
) -> None:
    user, bystander = new_user(), new_user()
    for _ in range(settings.login_max_failures):
        _assert_refused(log_in(api, user.email, WRONG_PASSWORD))
    assert audit_rows(db, "LOGIN_THROTTLED") == []

    throttled = log_in(api, user.email)  # even the right password now
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "too_many_requests"
    retry_after = int(throttled.headers["Retry-After"])
    assert 1 <= retry_after <= settings.login_failure_window_seconds
    assert "token" not in throttled.json()
    assert session_count(db) == 0
    [audit] = audit_rows(db, "LOGIN_THROTTLED")
    assert audit.actor_user_id == user.id
    assert len(audit_rows(db, "LOGIN_FAILED")) == settings.login_max_failures

    # The throttle is per account and address: another user at the same address is let in.
    assert log_in(api, bystander.email).status_code == 200


def test_a_success_clears_the_account_failures(
    api: TestClient, new_user: NewUser, settings: Settings
) -> None:
    user = new_user()
    for _ in range(2):
        for _ in range(settings.login_max_failures - 1):
            _assert_refused(log_in(api, user.email, WRONG_PASSWORD))
        assert log_in(api, user.email).status_code == 200


def test_failures_spread_over_many_accounts_throttle_the_address(
    api: TestClient, app: FastAPI, db: Session, new_user: NewUser, settings: Settings
) -> None:
    strict = settings.model_copy(update={"login_max_failures_per_address": 4})
    app.state.login_throttle = LoginThrottle(strict)
    user = new_user()
    for guess in range(4):
        _assert_refused(log_in(api, f"guess{guess}-{user.email}", WRONG_PASSWORD))

    throttled = log_in(api, user.email)
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert len(audit_rows(db, "LOGIN_THROTTLED")) == 1


def test_a_login_without_a_password_is_a_validation_error(api: TestClient) -> None:
    response = api.post("/auth/login", json={"email": "someone@clinic.example.com"})
    assert response.status_code == 422
    assert "password" in response.json()["error"]["fields"]
