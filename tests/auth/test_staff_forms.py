"""The Staff page's forms answer as /users does: disable, enable and change a role, each audited;
the last admin refused with a page naming why; sign out everywhere from Settings."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.mfa_models import SecondFactor
from proirp.auth.models import User
from proirp.kit.time import set_clock, utcnow
from tests.auth.conftest import NewUser
from tests.auth.mfa_steps import phone_code, sign_in_with_code
from tests.factories import PASSWORD, enrol_second_factor


def sign_in(api: TestClient, email: str) -> str:
    response = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    return str(api.cookies["proirp_csrf"])


def sign_in_admin(api: TestClient, db: Session, admin: User) -> str:
    sign_in_with_code(api, db, admin)
    return str(api.cookies["proirp_csrf"])


def test_the_forms_disable_enable_and_change_a_role(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    person = new_user(role="staff")
    csrf = sign_in_admin(api, db, admin)

    for action, done in (("disable", "disabled"), ("enable", "enabled")):
        response = api.post(
            f"/app/staff/{person.id}/{action}", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/app/staff?done={done}#user-{person.id}"
    response = api.post(
        f"/app/staff/{person.id}/role",
        data={"csrf_token": csrf, "role": "clinician"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    db.refresh(person)
    assert (person.role, person.is_active) == ("clinician", True)
    page = api.get("/app/staff?done=role")
    assert "The role is changed" in page.text
    logged = db.scalars(select(AuditLog.action).where(AuditLog.actor_user_id == admin.id)).all()
    assert [a for a in logged if a.startswith("USER_")] == [
        "USER_DISABLED",
        "USER_ENABLED",
        "USER_ROLE_CHANGED",
    ]


def test_the_last_admin_gets_a_page_naming_why(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    with set_clock(utcnow()) as clock:
        csrf = sign_in_admin(api, db, admin)
        clock.advance(timedelta(seconds=30))  # signing in used this step's code
        secret = db.scalar(select(SecondFactor.totp_secret).where(SecondFactor.user_id == admin.id))
        assert secret is not None
        response = api.post(
            f"/app/staff/{admin.id}/role",
            data={"csrf_token": csrf, "role": "staff", "code": phone_code(secret)},
        )
    assert response.status_code == 409
    assert "last active admin" in response.text
    response = api.post(f"/app/staff/{admin.id}/role", data={"csrf_token": csrf, "role": "chief"})
    assert response.status_code == 422 and "role" in response.text


def test_sign_out_everywhere_from_settings(api: TestClient, new_user: NewUser) -> None:
    person = new_user()
    elsewhere = api.post("/auth/login", json={"email": person.email, "password": PASSWORD})
    other_token = elsewhere.json()["token"]
    csrf = sign_in(api, person.email)
    assert "Sign out everywhere" in api.get("/app/settings").text

    response = api.post(
        "/app/signout-everywhere", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/app/signin"
    assert (
        api.get("/auth/me", headers={"Authorization": f"Bearer {other_token}"}).status_code == 401
    )
    api.cookies.clear()


def test_the_staff_page_resets_a_lost_phone_s_second_factor(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    person = new_user(role="staff")
    enrol_second_factor(db, person.id)
    db.commit()
    elsewhere = TestClient(api.app)
    signed_in = sign_in_with_code(elsewhere, db, person)
    their_token = signed_in.json()["token"]
    csrf = sign_in_admin(api, db, admin)
    listing = api.get("/app/staff")
    assert f'action="/app/staff/{person.id}/mfa-reset"' in listing.text

    response = api.post(
        f"/app/staff/{person.id}/mfa-reset", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/app/staff?done=mfa-reset#user-{person.id}"
    assert "two-step sign-in is reset" in api.get("/app/staff?done=mfa-reset").text
    assert db.scalar(select(SecondFactor).where(SecondFactor.user_id == person.id)) is None
    their_me = elsewhere.get("/auth/me", headers={"Authorization": f"Bearer {their_token}"})
    assert their_me.status_code == 401
    [row] = db.scalars(select(AuditLog).where(AuditLog.action == "MFA_RESET")).all()
    assert row.actor_user_id == admin.id and row.details["user_id"] == person.id
    assert f'action="/app/staff/{person.id}/mfa-reset"' not in api.get("/app/staff").text
