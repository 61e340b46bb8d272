"""Two-step sign-in over the API: enrolling an authenticator app, signing in with a code, codes
accepted once, recovery codes used once, wrong codes counted in the login limits, and an
admin's reset. Codes are made with pyotp, as the user's phone makes them, at a time the tests
set."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from proirp.auth.mfa_models import RecoveryCode, SecondFactor
from proirp.auth.secrets import csrf_for
from proirp.auth.throttle import LoginThrottle
from proirp.config import Settings
from proirp.kit.time import Clock, set_clock
from tests.auth.conftest import Caller, NewUser
from tests.auth.mfa_steps import (
    audit_rows,
    bearer,
    challenge_for,
    enrol,
    log_in,
    phone_code,
    send_code,
    written,
)
from tests.factories import create_staff

# Five seconds into a 30-second step: advancing by 30 s moves to the next code.
NOW = datetime(2030, 1, 15, 15, 0, 5, tzinfo=UTC)
RECOVERY_CODE = re.compile(r"^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$")
LIMIT = 3


@pytest.fixture
def clock() -> Iterator[Clock]:
    with set_clock(NOW) as clock:
        yield clock


@pytest.fixture
def strict(app: FastAPI, settings: Settings, api: TestClient) -> Iterator[None]:
    """Small login limits, so that a test reaches them quickly."""
    limits = {"login_max_failures": LIMIT, "login_max_failures_per_address": 10}
    app.state.login_throttle = LoginThrottle(settings.model_copy(update=limits))
    yield


def test_enrolment_is_on_only_once_a_code_confirms_it(
    api: TestClient, db: Session, new_user: NewUser, clock: Clock
) -> None:
    user = new_user()
    token = log_in(api, user.email).json()["token"]
    status = api.get("/auth/mfa", headers=bearer(token)).json()["mfa"]
    assert status == {
        "enabled": False,
        "required": False,
        "enrolled_at": None,
        "recovery_codes_left": 0,
    }

    started = api.post("/auth/mfa/enrolment", headers=bearer(token))
    assert started.status_code == 201
    assert started.headers["cache-control"] == "no-store"
    enrolment = started.json()["enrolment"]
    secret = enrolment["secret"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={secret}" in enrolment["otpauth_uri"]
    assert "issuer=Pro%20IRP" in enrolment["otpauth_uri"]
    assert enrolment["qr_svg"].startswith("<svg")

    # Not on yet: the password alone still signs in.
    assert log_in(api, user.email).status_code == 200
    wrong = api.post("/auth/mfa/enrolment/confirm", json={"code": "000000"}, headers=bearer(token))
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "invalid_code"
    assert wrong.json()["error"]["fields"] == {"code": "not a valid code"}
    assert api.get("/auth/mfa", headers=bearer(token)).json()["mfa"]["enabled"] is False

    confirmed = api.post(
        "/auth/mfa/enrolment/confirm", json={"code": phone_code(secret)}, headers=bearer(token)
    )
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(RECOVERY_CODE.match(code) for code in codes)
    status = api.get("/auth/mfa", headers=bearer(token)).json()["mfa"]
    assert status["enabled"] is True and status["recovery_codes_left"] == 10
    assert status["enrolled_at"] == NOW.isoformat().replace("+00:00", "Z")

    again = api.post("/auth/mfa/enrolment", headers=bearer(token))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "mfa_already_enabled"

    # At rest: the secret only encrypted, the recovery codes only as digests.
    db.expire_all()
    stored = db.execute(
        text("SELECT totp_secret FROM second_factors WHERE user_id = :id"), {"id": user.id}
    ).scalar_one()
    assert secret not in stored
    assert db.scalar(select(SecondFactor.totp_secret).where(SecondFactor.user_id == user.id)) == (
        secret
    )
    digests = db.scalars(select(RecoveryCode.code_digest).where(RecoveryCode.user_id == user.id))
    assert not {d for d in digests} & {c.replace("-", "") for c in codes}

    rows = audit_rows(db, user.id, "MFA_ENROLMENT_STARTED", "MFA_ENROLLED")
    assert [r.action for r in rows] == ["MFA_ENROLMENT_STARTED", "MFA_ENROLLED"]
    # The user's other session (the factory's token) ended when it was turned on.
    assert rows[-1].details == {"method": "totp", "recovery_codes": 10, "sessions_ended": 1}
    everything = written(audit_rows(db, user.id))
    assert secret not in everything
    assert not any(code in everything for code in codes)


def test_signing_in_takes_the_password_then_a_code(
    api: TestClient, db: Session, new_user: NewUser, clock: Clock
) -> None:
    user = new_user()
    _token, secret, _codes = enrol(api, user.email)
    clock.advance(timedelta(seconds=30))

    refused = log_in(api, user.email)
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert error["code"] == "mfa_required"
    assert error["expires_in"] == 300
    assert "token" not in refused.json()
    assert "proirp_session" not in refused.cookies

    signed_in = send_code(api, error["challenge"], phone_code(secret))
    assert signed_in.status_code == 200, signed_in.text
    body = signed_in.json()
    assert set(body) == {"ok", "token", "csrf_token", "expires_in", "user"}
    assert body["user"]["email"] == user.email
    assert "proirp_session" in signed_in.cookies
    assert api.get("/clients", headers=bearer(body["token"])).status_code == 200

    rows = audit_rows(db, user.id, "MFA_CHALLENGED", "MFA_VERIFIED", "LOGIN_SUCCEEDED")
    assert [r.action for r in rows][-3:] == ["MFA_CHALLENGED", "MFA_VERIFIED", "LOGIN_SUCCEEDED"]
    assert rows[-2].details == {"method": "totp"}
    assert secret not in written(audit_rows(db, user.id))


def test_a_code_is_accepted_once(api: TestClient, new_user: NewUser, clock: Clock) -> None:
    user = new_user()
    _token, secret, _codes = enrol(api, user.email)
    # The code that confirmed the enrolment does not sign in.
    used_at_enrolment = phone_code(secret)
    answer = send_code(api, challenge_for(api, user.email), used_at_enrolment)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_code"

    clock.advance(timedelta(seconds=30))
    code = phone_code(secret)
    assert send_code(api, challenge_for(api, user.email), code).status_code == 200
    replayed = send_code(api, challenge_for(api, user.email), code)
    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == "invalid_code"

    # An older code, still within the drift allowed, is not accepted after a newer one.
    clock.advance(timedelta(seconds=30))
    assert send_code(api, challenge_for(api, user.email), code).status_code == 401
    assert send_code(api, challenge_for(api, user.email), phone_code(secret)).status_code == 200


def test_codes_from_a_phone_a_step_off_are_accepted_but_not_older_ones(
    api: TestClient, new_user: NewUser, clock: Clock
) -> None:
    user = new_user()
    _token, secret, _codes = enrol(api, user.email)
    clock.advance(timedelta(minutes=5))
    ahead = phone_code(secret)  # the phone's clock runs 30 seconds ahead
    clock.advance(timedelta(seconds=-30))
    assert send_code(api, challenge_for(api, user.email), ahead).status_code == 200
    clock.advance(timedelta(minutes=1))
    stale = phone_code(secret)
    clock.advance(timedelta(seconds=60))  # two steps later: too old
    assert send_code(api, challenge_for(api, user.email), stale).status_code == 401


def test_wrong_codes_are_refused_and_count_in_the_login_limits(
    api: TestClient, caller: Caller, db: Session, new_user: NewUser, clock: Clock, strict: None
) -> None:
    user = new_user()
    _token, secret, _codes = enrol(api, user.email)
    clock.advance(timedelta(seconds=30))
    attacker = caller()
    challenge = challenge_for(attacker, user.email)
    for _ in range(LIMIT - 1):
        wrong = send_code(attacker, challenge, "123456")
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_code"
    # The right password in between forgives nothing: codes cannot be guessed between passwords.
    challenge = challenge_for(attacker, user.email)
    assert send_code(attacker, challenge, "654321").status_code == 401

    held = send_code(attacker, challenge, phone_code(secret))  # even the right code
    assert held.status_code == 429
    assert int(held.headers["Retry-After"]) >= 1
    assert log_in(attacker, user.email).status_code == 429

    failed = audit_rows(db, user.id, "MFA_FAILED")
    assert len(failed) == LIMIT
    assert {str(r.details) for r in failed} == {str({"stage": "sign_in"})}
    assert "123456" not in written(audit_rows(db, user.id))

    # The owner, from an address that has not failed, still signs in.
    owner = caller()
    assert send_code(owner, challenge_for(owner, user.email), phone_code(secret)).status_code == 200


def test_a_recovery_code_signs_in_once(
    api: TestClient, db: Session, new_user: NewUser, clock: Clock
) -> None:
    user = new_user()
    _token, _secret, codes = enrol(api, user.email)
    typed = " " + codes[3].upper().replace("-", " ") + " "  # as a person may type it
    signed_in = send_code(api, challenge_for(api, user.email), typed)
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["token"]
    assert api.get("/auth/mfa", headers=bearer(token)).json()["mfa"]["recovery_codes_left"] == 9

    again = send_code(api, challenge_for(api, user.email), codes[3])
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_code"
    [used] = audit_rows(db, user.id, "RECOVERY_CODE_USED")
    assert used.details == {"codes_left": 9}
    verified = audit_rows(db, user.id, "MFA_VERIFIED")
    assert verified[-1].details == {"method": "recovery_code"}
    assert codes[3] not in written(audit_rows(db, user.id))


def test_new_recovery_codes_need_a_current_code_and_replace_the_old(
    api: TestClient, db: Session, new_user: NewUser, clock: Clock
) -> None:
    user = new_user()
    token, secret, old = enrol(api, user.email)
    clock.advance(timedelta(seconds=30))
    wrong = api.post("/auth/mfa/recovery-codes", json={"code": "111111"}, headers=bearer(token))
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "invalid_code"
    # A recovery code is not a current code.
    by_recovery = api.post("/auth/mfa/recovery-codes", json={"code": old[0]}, headers=bearer(token))
    assert by_recovery.status_code == 422
    assert audit_rows(db, user.id, "MFA_FAILED")[-1].details == {"stage": "recovery_codes"}

    fresh = api.post(
        "/auth/mfa/recovery-codes", json={"code": phone_code(secret)}, headers=bearer(token)
    )
    assert fresh.status_code == 200
    new = fresh.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert send_code(api, challenge_for(api, user.email), old[0]).status_code == 401
    assert send_code(api, challenge_for(api, user.email), new[0]).status_code == 200
    [row] = audit_rows(db, user.id, "RECOVERY_CODES_REGENERATED")
    assert row.details == {"recovery_codes": 10}


def test_a_challenge_lasts_five_minutes_and_opens_one_session(
    api: TestClient, new_user: NewUser, clock: Clock
) -> None:
    user = new_user()
    _token, secret, _codes = enrol(api, user.email)
    challenge = challenge_for(api, user.email)
    clock.advance(timedelta(minutes=5, seconds=1))
    late = send_code(api, challenge, phone_code(secret))
    assert late.status_code == 401
    assert late.json()["error"]["code"] == "mfa_challenge_expired"

    challenge = challenge_for(api, user.email)
    assert send_code(api, challenge, phone_code(secret)).status_code == 200
    clock.advance(timedelta(seconds=30))
    reused = send_code(api, challenge, phone_code(secret))
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "mfa_challenge_expired"
    unknown = send_code(api, "not-a-challenge-we-issued", phone_code(secret))
    assert unknown.json()["error"]["code"] == "mfa_challenge_expired"


def test_an_admin_resets_a_lost_phone_without_seeing_the_secret(
    api: TestClient, db: Session, new_user: NewUser, clock: Clock
) -> None:
    user = new_user()
    token, secret, codes = enrol(api, user.email)
    admin = create_staff(db, role="admin")
    db.commit()

    missing = api.post(f"/users/{'0' * 32}/mfa/reset", headers=admin.headers)
    assert missing.status_code == 404
    reset = api.post(f"/users/{user.id}/mfa/reset", headers=admin.headers)
    assert reset.status_code == 200
    assert reset.json() == {"ok": True, "had_second_factor": True}
    assert secret not in reset.text

    # Their session ends, and the password alone signs in (they may enrol again).
    assert api.get("/auth/me", headers=bearer(token)).status_code == 401
    assert log_in(api, user.email).status_code == 200
    status = api.get("/auth/mfa", headers=bearer(log_in(api, user.email).json()["token"]))
    assert status.json()["mfa"]["enabled"] is False
    assert status.json()["mfa"]["recovery_codes_left"] == 0

    [row] = audit_rows(db, admin.user.id, "MFA_RESET")
    assert row.details == {"user_id": user.id, "had_second_factor": True, "sessions_ended": 1}
    assert secret not in written([row]) and codes[0] not in written([row])


def test_the_page_gives_new_recovery_codes_for_a_current_code(
    api: TestClient, db: Session, new_user: NewUser, clock: Clock
) -> None:
    user = new_user()
    token, secret, old = enrol(api, user.email)
    clock.advance(timedelta(seconds=30))
    csrf = {"csrf_token": csrf_for(token)}
    api.cookies.set("proirp_session", token)
    try:
        page = api.get("/app/mfa")
        assert "Two-step sign-in is <strong>on</strong>" in page.text
        assert secret not in page.text  # never shown again once it is on
        wrong = api.post("/app/mfa/recovery-codes", data={**csrf, "code": "000000"})
        assert wrong.status_code == 422
        assert "That code is not right" in wrong.text
        fresh = api.post("/app/mfa/recovery-codes", data={**csrf, "code": phone_code(secret)})
        assert fresh.status_code == 200
        assert fresh.headers["cache-control"] == "no-store"
        new = re.findall(r"<li><code>([^<]+)</code></li>", fresh.text)
        assert len(new) == 10 and not set(new) & set(old)
        assert "Your earlier recovery codes no longer work" in fresh.text
    finally:
        api.cookies.clear()
    assert audit_rows(db, user.id, "MFA_FAILED")[-1].details == {"stage": "recovery_codes"}
