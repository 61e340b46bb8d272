"""Steps the two-step sign-in tests share: enrolling over the API, signing in with a code, and
codes made with pyotp (as the user's phone makes them) at the time the tests set."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.mfa_models import SecondFactor
from proirp.auth.models import User
from proirp.kit.time import utcnow
from tests.factories import PASSWORD, enrol_second_factor


def phone_code(secret: str) -> str:
    """The code the authenticator app shows now."""
    return pyotp.TOTP(secret).at(utcnow())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/auth/login", json={"email": email, "password": password})


def challenge_for(client: TestClient, email: str) -> str:
    """The password step for an account with two-step sign-in: the challenge it answers."""
    answer = log_in(client, email)
    assert answer.status_code == 401, answer.text
    error = answer.json()["error"]
    assert error["code"] == "mfa_required"
    challenge: str = error["challenge"]
    return challenge


def send_code(client: TestClient, challenge: str, code: str) -> httpx.Response:
    return client.post("/auth/login/mfa", json={"challenge": challenge, "code": code})


def sign_in_with_code(client: TestClient, db: Session, user: User) -> httpx.Response:
    """Sign in as `user` with the password and then a code from their app, setting up their
    second factor first if they have none (as every admin must)."""
    factor = db.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id))
    secret = factor.totp_secret if factor else enrol_second_factor(db, user.id)
    db.commit()
    signed_in = send_code(client, challenge_for(client, user.email), phone_code(secret))
    assert signed_in.status_code == 200, signed_in.text
    return signed_in


def enrol(client: TestClient, email: str) -> tuple[str, str, list[str]]:
    """Sign in with the password, enrol an app and confirm it: (session token, secret, codes)."""
    signed_in = log_in(client, email)
    assert signed_in.status_code == 200, signed_in.text
    token: str = signed_in.json()["token"]
    started = client.post("/auth/mfa/enrolment", headers=bearer(token))
    assert started.status_code == 201, started.text
    secret: str = started.json()["enrolment"]["secret"]
    confirmed = client.post(
        "/auth/mfa/enrolment/confirm", json={"code": phone_code(secret)}, headers=bearer(token)
    )
    assert confirmed.status_code == 200, confirmed.text
    return token, secret, confirmed.json()["recovery_codes"]


def audit_rows(db: Session, user_id: str, *actions: str) -> list[AuditLog]:
    db.expire_all()
    query = select(AuditLog).where(AuditLog.actor_user_id == user_id).order_by(AuditLog.id)
    if actions:
        query = query.where(AuditLog.action.in_(actions))
    return list(db.scalars(query))


def written(rows: list[AuditLog]) -> str:
    """Everything the rows hold, to look for what must never be in them."""
    parts: list[Any] = [(r.action, r.details, r.ip, r.user_agent) for r in rows]
    return repr(parts)
