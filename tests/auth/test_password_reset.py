"""Password reset links: an admin issues one (never a password), its person sets a new password
through it once, within the hour; using it ends the person's sessions; only its digest is kept;
every step is audited without the link."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.reset_links import PasswordResetLink
from proirp.auth.secrets import token_digest, verify_password
from proirp.kit.time import set_clock, utcnow
from tests.auth.conftest import NewUser
from tests.auth.mfa_steps import sign_in_with_code
from tests.factories import PASSWORD, Staff, create_staff

NEW_PASSWORD = "plum lantern quietly orbits"


def issue(api: TestClient, admin: Staff, user_id: str) -> str:
    response = api.post(f"/users/{user_id}/password-reset", headers=admin.headers)
    assert response.status_code == 201, response.text
    url: str = response.json()["password_reset"]["url"]
    return url


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def use(api: TestClient, url: str, password: str = NEW_PASSWORD) -> int:
    body = {"token": token_of(url), "password": password}
    return api.post("/auth/password-reset", json=body).status_code


def actions(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_a_link_sets_the_password_once_and_ends_the_other_sessions(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = create_staff(db, role="admin")
    person = new_user()
    old = api.post("/auth/login", json={"email": person.email, "password": PASSWORD})
    old_token = old.json()["token"]
    api.cookies.clear()

    response = api.post(f"/users/{person.id}/password-reset", headers=admin.headers)
    answer = response.json()["password_reset"]
    url = answer["url"]
    assert url.startswith("http") and "/app/reset-password/pirst_" in url
    assert answer["user_id"] == person.id
    expires = answer["expires_at"].replace("Z", "+00:00")
    assert abs(utcnow() + timedelta(hours=1) - datetime.fromisoformat(expires)) < timedelta(
        minutes=1
    )
    # Only the digest is stored.
    [link] = db.scalars(select(PasswordResetLink).where(PasswordResetLink.user_id == person.id))
    assert link.token_hash == token_digest(token_of(url))
    assert token_of(url) not in json.dumps([link.token_hash, link.id])

    assert use(api, url) == 200
    db.refresh(person)
    assert verify_password(person.password_hash, NEW_PASSWORD)
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    signed_in = api.post("/auth/login", json={"email": person.email, "password": NEW_PASSWORD})
    assert signed_in.status_code == 200

    # Once only: a second use is refused, and changes nothing.
    assert use(api, url, "another fine long passphrase") == 404
    db.refresh(person)
    assert verify_password(person.password_hash, NEW_PASSWORD)

    [issued] = actions(db, "PASSWORD_RESET_ISSUED")
    assert issued.actor_user_id == admin.user.id
    assert issued.details == {"user_id": person.id, "reset_link_id": link.id}
    [done] = actions(db, "PASSWORD_RESET_COMPLETED")
    assert done.actor_user_id == person.id
    assert done.details == {"user_id": person.id, "reset_link_id": link.id, "sessions_ended": 1}
    [refused] = actions(db, "PASSWORD_RESET_REFUSED")
    trail = json.dumps([r.details for r in (issued, done, refused)])
    assert token_of(url) not in trail and NEW_PASSWORD not in trail


def test_a_link_expires_after_an_hour(api: TestClient, db: Session, new_user: NewUser) -> None:
    admin = create_staff(db, role="admin")
    person = new_user()
    start = utcnow()
    with set_clock(start) as clock:
        url = issue(api, admin, person.id)
        clock.advance(timedelta(minutes=59, seconds=59))
        assert api.get(f"/app/reset-password/{token_of(url)}").status_code == 200
        clock.advance(timedelta(seconds=1))
        assert use(api, url) == 404
        page = api.get(f"/app/reset-password/{token_of(url)}")
        assert page.status_code == 404 and "expired or was already used" in page.text
    db.refresh(person)
    assert verify_password(person.password_hash, PASSWORD)


def test_a_weak_password_is_refused_and_the_link_still_works(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = create_staff(db, role="admin")
    person = new_user()
    url = issue(api, admin, person.id)
    for weak in ("short", "password1234", person.email):
        response = api.post("/auth/password-reset", json={"token": token_of(url), "password": weak})
        assert response.status_code == 422, weak
        assert "password" in response.json()["error"]["fields"]
    assert use(api, url) == 200


def test_a_newer_link_or_disabling_the_account_voids_a_link(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = create_staff(db, role="admin")
    person = new_user()
    first = issue(api, admin, person.id)
    second = issue(api, admin, person.id)
    assert use(api, first) == 404

    assert api.post(f"/users/{person.id}/disable", headers=admin.headers).status_code == 200
    assert use(api, second) == 404
    refused = api.post(f"/users/{person.id}/password-reset", headers=admin.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "user_disabled"


def test_a_made_up_token_is_refused(api: TestClient) -> None:
    for token in ("pirst_" + "x" * 43, "not-ours", "pirst_" + "y" * 120):
        response = api.post(
            "/auth/password-reset", json={"token": token[:100], "password": NEW_PASSWORD}
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "reset_link_invalid"


def test_only_admins_issue_links(api: TestClient, db: Session) -> None:
    clinician = create_staff(db, role="clinician")
    other = create_staff(db, role="staff")
    response = api.post(f"/users/{other.user.id}/password-reset", headers=clinician.headers)
    assert response.status_code == 403
    assert db.scalars(select(PasswordResetLink)).all() == []


def test_the_landing_page_sets_the_password(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = create_staff(db, role="admin")
    person = new_user()
    token = token_of(issue(api, admin, person.id))
    page = api.get(f"/app/reset-password/{token}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'autocomplete="new-password"' in page.text

    differ = {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD + "!"}
    response = api.post(f"/app/reset-password/{token}", data=differ)
    assert response.status_code == 422 and "The two passwords differ" in response.text
    weak = {"password": "password1234", "password_again": "password1234"}
    response = api.post(f"/app/reset-password/{token}", data=weak)
    assert response.status_code == 422 and "The password is too easy to guess" in response.text

    good = {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    response = api.post(f"/app/reset-password/{token}", data=good)
    assert response.status_code == 200 and "Your new password is set" in response.text
    db.refresh(person)
    assert verify_password(person.password_hash, NEW_PASSWORD)
    again = api.post(f"/app/reset-password/{token}", data=good)
    assert again.status_code == 404 and "expired or was already used" in again.text


def test_the_staff_page_makes_a_link_shown_once(
    api: TestClient, db: Session, new_user: NewUser
) -> None:
    admin = new_user(role="admin")
    person = new_user()
    sign_in_with_code(api, db, admin)
    csrf = api.cookies["proirp_csrf"]

    listing = api.get("/app/staff")
    assert listing.status_code == 200 and person.email in listing.text
    response = api.post(f"/app/staff/{person.id}/password-reset", data={"csrf_token": csrf})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    [url] = re.findall(r'value="(http[^"]+/app/reset-password/pirst_[^"]+)"', response.text)
    assert use(api, url) == 200
