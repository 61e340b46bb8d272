"""The staff lifecycle over the API: admins list accounts, disable and enable them, change roles;
a disabled person's token and cookie are refused on the very next request; the last active admin
stays; every change is audited with ids and roles only."""

from __future__ import annotations

import json
from datetime import timedelta

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.models import ApiToken
from proirp.auth.secrets import token_digest
from proirp.kit.time import utcnow
from tests.auth.conftest import NewUser
from tests.auth.mfa_steps import challenge_for, phone_code, send_code
from tests.factories import PASSWORD, Staff, create_staff, enrol_second_factor


def _code(admin: Staff, *, later: int = 0) -> str:
    """A code from the admin's app, `later` steps of 30 s on (each code changes one account)."""
    assert admin.totp_secret is not None
    return pyotp.TOTP(admin.totp_secret).at(utcnow() + timedelta(seconds=30 * later))


def audit_rows(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def sign_in(api: TestClient, email: str) -> dict[str, str]:
    """Sign in through /auth/login; its token and CSRF token (the cookie stays on `api`)."""
    response = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    return {"token": body["token"], "csrf": body["csrf_token"]}


def test_an_admin_lists_every_account_active_or_not(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = create_staff(db, role="admin")
    gone = new_user(role="clinician", active=False)

    response = api.get("/users", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    listed = {u["id"]: u for u in body["users"]}
    assert listed[gone.id]["is_active"] is False and listed[gone.id]["role"] == "clinician"
    assert admin.user.id in listed
    assert "password_hash" not in json.dumps(body)

    first = api.get("/users?limit=1", headers=admin.headers).json()
    assert len(first["users"]) == 1 and first["next_cursor"]
    second = api.get(f"/users?limit=1&cursor={first['next_cursor']}", headers=admin.headers)
    assert second.json()["users"][0]["id"] != first["users"][0]["id"]


def test_disabling_refuses_the_bearer_token_and_the_cookie_on_the_next_request(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = create_staff(db, role="admin")
    leaver = new_user(role="clinician")
    signed_in = sign_in(api, leaver.email)  # the cookie stays on `api`
    api_token = create_staff(db)  # an API token of the leaver's, below
    api_token_row = db.scalar(
        select(ApiToken).where(ApiToken.token_hash == token_digest(api_token.token))
    )
    assert api_token_row is not None
    api_token_row.user_id = leaver.id
    db.commit()
    as_token = {"Authorization": f"Bearer {signed_in['token']}"}
    assert api.get("/auth/me").status_code == 200  # the cookie
    assert api.get("/auth/me", headers=as_token).status_code == 200
    assert api.get("/auth/me", headers=api_token.headers).status_code == 200

    response = api.post(f"/users/{leaver.id}/disable", headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["user"] == {**response.json()["user"], "is_active": False}

    for refused in (api.get("/auth/me"), api.get("/auth/me", headers=as_token)):
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert api.get("/clients", headers=api_token.headers).status_code == 401
    # Every session and token is revoked, not merely refused while disabled.
    tokens = db.scalars(select(ApiToken).where(ApiToken.user_id == leaver.id)).all()
    assert len(tokens) == 2 and all(t.revoked_at is not None for t in tokens)
    [row] = audit_rows(db, "USER_DISABLED")
    assert row.actor_user_id == admin.user.id
    assert row.details == {"user_id": leaver.id, "role": "clinician", "sessions_ended": 2}


def test_enabling_again_restores_sign_in_but_not_the_ended_sessions(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = create_staff(db, role="admin")
    person = new_user()
    old = sign_in(api, person.email)
    api.cookies.clear()
    assert api.post(f"/users/{person.id}/disable", headers=admin.headers).status_code == 200
    assert (
        api.post("/auth/login", json={"email": person.email, "password": PASSWORD}).status_code
        == 401
    )

    response = api.post(f"/users/{person.id}/enable", headers=admin.headers)
    assert response.status_code == 200 and response.json()["user"]["is_active"] is True
    api.cookies.clear()
    assert (
        api.get("/auth/me", headers={"Authorization": f"Bearer {old['token']}"}).status_code == 401
    )
    sign_in(api, person.email)
    [row] = audit_rows(db, "USER_ENABLED")
    assert row.details == {"user_id": person.id, "role": "staff"}


def test_a_role_change_applies_on_the_next_request_and_is_audited(
    api: TestClient, db: Session
) -> None:
    admin = create_staff(db, role="admin")
    clerk = create_staff(db, role="staff")
    # Templates are front-desk work, not a clinician's.
    assert api.post("/templates", headers=clerk.headers, json={}).status_code == 422

    response = api.post(
        f"/users/{clerk.user.id}/role", headers=admin.headers, json={"role": "clinician"}
    )
    assert response.status_code == 200 and response.json()["user"]["role"] == "clinician"
    refused = api.post("/templates", headers=clerk.headers, json={})
    assert refused.status_code == 403
    [row] = audit_rows(db, "USER_ROLE_CHANGED")
    assert row.actor_user_id == admin.user.id
    assert row.details == {"user_id": clerk.user.id, "role_before": "staff", "role": "clinician"}


def test_a_role_that_does_not_exist_is_refused_naming_the_field(
    api: TestClient, db: Session
) -> None:
    admin = create_staff(db, role="admin")
    response = api.post(
        f"/users/{admin.user.id}/role", headers=admin.headers, json={"role": "owner"}
    )
    assert response.status_code == 422
    assert "role" in response.json()["error"]["fields"]


def test_an_unknown_account_is_404(api: TestClient, db: Session) -> None:
    admin = create_staff(db, role="admin")
    for action in ("disable", "enable", "password-reset"):
        response = api.post(f"/users/{'0' * 32}/{action}", headers=admin.headers)
        assert response.status_code == 404, action
        assert response.json()["error"]["code"] == "not_found"


def _last_admin_refused(response_json: dict[str, object]) -> None:
    error = response_json["error"]
    assert isinstance(error, dict)
    assert error["code"] == "last_admin"
    assert "last active admin" in str(error["message"])


def test_the_last_active_admin_can_be_neither_disabled_nor_demoted(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = create_staff(db, role="admin")
    new_user(role="admin", active=False)  # a disabled admin does not count

    disabled = api.post(
        f"/users/{admin.user.id}/disable", headers=admin.headers, json={"code": _code(admin)}
    )
    assert disabled.status_code == 409
    _last_admin_refused(disabled.json())
    demoted = api.post(
        f"/users/{admin.user.id}/role",
        headers=admin.headers,
        json={"role": "staff", "code": _code(admin, later=1)},
    )
    assert demoted.status_code == 409
    _last_admin_refused(demoted.json())
    db.refresh(admin.user)
    assert (admin.user.role, admin.user.is_active) == ("admin", True)
    assert audit_rows(db, "USER_DISABLED") == audit_rows(db, "USER_ROLE_CHANGED") == []


def test_with_a_second_admin_one_may_step_down_and_then_the_other_is_the_last(
    api: TestClient, db: Session
) -> None:
    first: Staff = create_staff(db, role="admin")
    second = create_staff(db, role="admin")

    stepped = api.post(
        f"/users/{first.user.id}/role",
        headers=first.headers,
        json={"role": "staff", "code": _code(first)},
    )
    assert stepped.status_code == 200
    refused = api.post(
        f"/users/{second.user.id}/disable", headers=second.headers, json={"code": _code(second)}
    )
    assert refused.status_code == 409
    _last_admin_refused(refused.json())


def test_only_admins_manage_accounts(api: TestClient, db: Session) -> None:
    clinician = create_staff(db, role="clinician")
    other = create_staff(db, role="staff")
    response = api.post(f"/users/{other.user.id}/disable", headers=clinician.headers)
    assert response.status_code == 403
    db.refresh(other.user)
    assert other.user.is_active is True


def test_no_change_no_audit(api: TestClient, db: Session) -> None:
    admin = create_staff(db, role="admin")
    person = create_staff(db, role="staff")
    assert api.post(f"/users/{person.user.id}/enable", headers=admin.headers).status_code == 200
    same = api.post(f"/users/{person.user.id}/role", headers=admin.headers, json={"role": "staff"})
    assert same.status_code == 200
    assert audit_rows(db, "USER_ENABLED") == audit_rows(db, "USER_ROLE_CHANGED") == []


def test_a_sign_in_waiting_for_its_code_ends_when_the_account_is_disabled(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = create_staff(db, role="admin")
    person = new_user(role="admin")
    secret = enrol_second_factor(db, person.id)
    db.commit()
    challenge = challenge_for(api, person.email)  # the password was right; a code is awaited

    for later, action in enumerate(("disable", "enable")):
        code = {"code": _code(admin, later=later)}
        assert api.post(f"/users/{person.id}/{action}", headers=admin.headers, json=code).is_success
    late = send_code(api, challenge, phone_code(secret))
    assert late.status_code == 401, late.text
    assert late.json()["error"]["code"] == "mfa_challenge_expired"
    # Signing in again from the start works.
    assert send_code(api, challenge_for(api, person.email), phone_code(secret)).is_success
