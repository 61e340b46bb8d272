"""Tokens: /auth/me, logout revokes, expired or revoked tokens and inactive users are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.models import ApiToken, TokenKind, User
from proirp.auth.secrets import new_token, token_digest
from proirp.kit.time import utcnow
from tests.auth.conftest import NewUser
from tests.factories import PASSWORD


def issue_token(db: Session, user: User, *, expires_in: timedelta | None, revoked: bool) -> str:
    token = new_token()
    now = utcnow()
    db.add(
        ApiToken(
            user_id=user.id,
            token_hash=token_digest(token),
            kind=TokenKind.API,
            expires_at=now + expires_in if expires_in is not None else None,
            revoked_at=now if revoked else None,
        )
    )
    db.commit()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_not_authenticated(api: TestClient, token: str) -> None:
    response = api.get("/auth/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_me_describes_the_caller(api: TestClient, db: Session, new_user: NewUser) -> None:
    user = new_user(role="admin")
    token = issue_token(db, user, expires_in=timedelta(hours=1), revoked=False)

    response = api.get("/auth/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "user": {
            "id": user.id,
            "email": user.email,
            "role": "admin",
            "is_active": True,
            "created_at": response.json()["user"]["created_at"],
            "last_login_at": None,
        },
    }


def test_logout_revokes_the_token_and_is_audited(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    user = new_user()
    token = api.post("/auth/login", json={"email": user.email, "password": PASSWORD}).json()[
        "token"
    ]
    api.cookies.clear()

    response = api.post("/auth/logout", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert_not_authenticated(api, token)
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    assert row is not None and row.revoked_at is not None
    [audit] = db.scalars(select(AuditLog).where(AuditLog.action == "LOGOUT")).all()
    assert audit.actor_user_id == user.id


def test_logout_with_the_cookie_needs_csrf_then_clears_the_cookies(
    api: TestClient, new_user: NewUser
) -> None:
    user = new_user()
    login = api.post("/auth/login", json={"email": user.email, "password": PASSWORD}).json()

    refused = api.post("/auth/logout")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    assert api.get("/auth/me").status_code == 200  # still signed in

    response = api.post("/auth/logout", headers={"X-CSRF-Token": login["csrf_token"]})
    assert response.status_code == 200
    cleared = " ".join(response.headers.get_list("set-cookie")).lower()
    assert 'proirp_session="";' in cleared or "proirp_session=;" in cleared
    assert "max-age=0" in cleared
    assert_not_authenticated(api, login["token"])


@pytest.mark.parametrize(
    ("expires_in", "revoked"),
    [(timedelta(seconds=-1), False), (timedelta(hours=1), True), (None, True)],
    ids=["expired", "revoked", "revoked-without-expiry"],
)
def test_expired_and_revoked_tokens_are_refused(
    api: TestClient,
    db: Session,
    new_user: NewUser,
    expires_in: timedelta | None,
    revoked: bool,
) -> None:
    token = issue_token(db, new_user(), expires_in=expires_in, revoked=revoked)
    assert_not_authenticated(api, token)


def test_a_token_without_expiry_is_accepted(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    token = issue_token(db, new_user(), expires_in=None, revoked=False)
    assert api.get("/auth/me", headers=bearer(token)).status_code == 200


def test_an_inactive_user_is_refused_with_token_and_password(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    user = new_user(active=False)
    token = issue_token(db, user, expires_in=timedelta(hours=1), revoked=False)
    assert_not_authenticated(api, token)

    response = api.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    [audit] = db.scalars(select(AuditLog).where(AuditLog.action == "LOGIN_FAILED")).all()
    assert audit.details == {"reason": "inactive"}


def test_deactivating_a_user_ends_their_sessions(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    user = new_user()
    token = issue_token(db, user, expires_in=timedelta(hours=1), revoked=False)
    assert api.get("/auth/me", headers=bearer(token)).status_code == 200

    user.is_active = False
    db.commit()
    assert_not_authenticated(api, token)


@pytest.mark.parametrize("scheme", ["Basic", "Token", ""])
def test_a_good_token_under_another_scheme_is_refused(
    api: TestClient, db: Session, new_user: NewUser, scheme: str
) -> None:
    token = issue_token(db, new_user(), expires_in=timedelta(hours=1), revoked=False)
    response = api.get("/auth/me", headers={"Authorization": f"{scheme} {token}".strip()})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
