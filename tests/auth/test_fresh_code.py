"""A change to an admin's account (resetting their second factor, making them a password reset
link) needs a current code from the acting admin's own app: over the API and on the Staff page.
Other accounts need none. A wrong code is audited and counts in the login limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proirp.auth.mfa_models import SecondFactor
from proirp.auth.models import User
from proirp.auth.reset_links import PasswordResetLink
from proirp.auth.throttle import LoginThrottle
from proirp.config import Settings
from proirp.kit.time import Clock, set_clock
from tests.auth.mfa_steps import audit_rows, phone_code, sign_in_with_code
from tests.factories import Staff, create_staff

NOW = datetime(2030, 1, 15, 15, 0, 5, tzinfo=UTC)
LIMIT = 3


@pytest.fixture
def clock() -> Iterator[Clock]:
    with set_clock(NOW) as clock:
        yield clock


@pytest.fixture
def strict(app: FastAPI, settings: Settings, api: TestClient) -> Iterator[None]:
    limits = {"login_max_failures": LIMIT, "login_max_failures_per_address": 10}
    app.state.login_throttle = LoginThrottle(settings.model_copy(update=limits))
    yield


def _code(acting: Staff) -> str:
    assert acting.totp_secret is not None
    return phone_code(acting.totp_secret)


def _has_factor(db: Session, user_id: str) -> bool:
    db.expire_all()
    return db.scalar(select(SecondFactor.id).where(SecondFactor.user_id == user_id)) is not None


def _links(db: Session, user_id: str) -> int:
    stmt = select(func.count()).where(PasswordResetLink.user_id == user_id)
    return db.scalar(stmt) or 0


def test_resetting_an_admins_second_factor_needs_the_acting_admins_code(
    api: TestClient, db: Session, clock: Clock
) -> None:
    acting, other = create_staff(db, role="admin"), create_staff(db, role="admin")
    db.commit()
    url = f"/users/{other.user.id}/mfa/reset"

    missing = api.post(url, headers=acting.headers)
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "fresh_code_required"
    assert "code" in missing.json()["error"]["fields"]
    wrong = api.post(url, json={"code": "000000"}, headers=acting.headers)
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "invalid_code"
    # The other admin's own code is not the acting admin's.
    theirs = api.post(url, json={"code": _code(other)}, headers=acting.headers)
    assert theirs.status_code == 422
    assert _has_factor(db, other.user.id)
    assert audit_rows(db, acting.user.id, "MFA_RESET") == []
    failed = audit_rows(db, acting.user.id, "MFA_FAILED")
    assert [row.details for row in failed] == [
        {"stage": "fresh_code", "user_id": other.user.id}
    ] * 2

    done = api.post(url, json={"code": _code(acting)}, headers=acting.headers)
    assert done.status_code == 200, done.text
    assert done.json() == {"ok": True, "had_second_factor": True}
    assert not _has_factor(db, other.user.id)
    assert len(audit_rows(db, acting.user.id, "MFA_RESET")) == 1


def test_a_code_changes_one_account_once(api: TestClient, db: Session, clock: Clock) -> None:
    acting = create_staff(db, role="admin")
    first, second = create_staff(db, role="admin"), create_staff(db, role="admin")
    db.commit()
    code = _code(acting)
    used = api.post(
        f"/users/{first.user.id}/mfa/reset", json={"code": code}, headers=acting.headers
    )
    assert used.status_code == 200
    again = api.post(
        f"/users/{second.user.id}/mfa/reset", json={"code": code}, headers=acting.headers
    )
    assert again.status_code == 422
    assert _has_factor(db, second.user.id)
    clock.advance(timedelta(seconds=30))
    fresh = api.post(
        f"/users/{second.user.id}/mfa/reset", json={"code": _code(acting)}, headers=acting.headers
    )
    assert fresh.status_code == 200


def test_a_reset_link_for_an_admin_needs_the_code_and_for_others_none(
    api: TestClient, db: Session, clock: Clock
) -> None:
    acting, other = create_staff(db, role="admin"), create_staff(db, role="admin")
    clinician = create_staff(db, role="clinician")
    db.commit()

    refused = api.post(f"/users/{other.user.id}/password-reset", headers=acting.headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "fresh_code_required"
    assert _links(db, other.user.id) == 0
    issued = api.post(
        f"/users/{other.user.id}/password-reset",
        json={"code": _code(acting)},
        headers=acting.headers,
    )
    assert issued.status_code == 201, issued.text
    assert _links(db, other.user.id) == 1

    # A clinician's link and second factor need no code, as before.
    plain = api.post(f"/users/{clinician.user.id}/password-reset", headers=acting.headers)
    assert plain.status_code == 201
    assert api.post(f"/users/{clinician.user.id}/mfa/reset", headers=acting.headers).json() == {
        "ok": True,
        "had_second_factor": False,
    }
    unknown = api.post(f"/users/{'0' * 32}/password-reset", headers=acting.headers)
    assert unknown.status_code == 404


def test_wrong_codes_count_in_the_login_limits(
    api: TestClient, db: Session, clock: Clock, strict: None
) -> None:
    acting, other = create_staff(db, role="admin"), create_staff(db, role="admin")
    db.commit()
    url = f"/users/{other.user.id}/mfa/reset"
    for _ in range(LIMIT):
        assert api.post(url, json={"code": "000000"}, headers=acting.headers).status_code == 422
    throttled = api.post(url, json={"code": _code(acting)}, headers=acting.headers)
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers
    assert _has_factor(db, other.user.id)
    assert len(audit_rows(db, acting.user.id, "LOGIN_THROTTLED")) == 1


def test_the_staff_page_asks_for_the_code_on_an_admins_row(
    api: TestClient, db: Session, clock: Clock
) -> None:
    acting, other = create_staff(db, role="admin"), create_staff(db, role="admin")
    clinician = create_staff(db, role="clinician")
    db.commit()
    sign_in_with_code(api, db, acting.user)
    clock.advance(timedelta(seconds=30))  # signing in used this step's code
    csrf = {"csrf_token": str(api.cookies["proirp_csrf"])}

    page = api.get("/app/staff")
    assert f'id="code-mfa-{other.user.id}"' in page.text
    assert f'id="code-reset-{other.user.id}"' in page.text
    assert f'id="code-reset-{clinician.user.id}"' not in page.text

    missing = api.post(f"/app/staff/{other.user.id}/mfa-reset", data=csrf)
    assert missing.status_code == 422
    assert "needs a current code" in missing.text
    wrong = api.post(f"/app/staff/{other.user.id}/mfa-reset", data={**csrf, "code": "000000"})
    assert wrong.status_code == 422
    assert "That code is not right" in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    assert _has_factor(db, other.user.id)

    done = api.post(
        f"/app/staff/{other.user.id}/mfa-reset",
        data={**csrf, "code": _code(acting)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert not _has_factor(db, other.user.id)

    clock.advance(timedelta(seconds=30))
    link = api.post(
        f"/app/staff/{other.user.id}/password-reset", data={**csrf, "code": _code(acting)}
    )
    assert link.status_code == 200
    assert "Password reset link for" in link.text
    assert _links(db, other.user.id) == 1
    plain = api.post(f"/app/staff/{clinician.user.id}/password-reset", data=csrf)
    assert plain.status_code == 200
    assert _links(db, clinician.user.id) == 1


def _role(db: Session, user_id: str) -> str:
    db.expire_all()
    return db.get(User, user_id).role  # type: ignore[union-attr]


def _active(db: Session, user_id: str) -> bool:
    db.expire_all()
    return db.get(User, user_id).is_active  # type: ignore[union-attr]


def test_changing_an_admins_role_or_making_an_admin_needs_the_code(
    api: TestClient, db: Session, clock: Clock
) -> None:
    """Else a stolen admin session alone takes another admin's account over: demote it, then
    reset its second factor and make it a reset link without a code, then promote it again."""
    acting, other = create_staff(db, role="admin"), create_staff(db, role="admin")
    clinician = create_staff(db, role="clinician")
    db.commit()

    for target, role in ((other, "staff"), (clinician, "admin")):
        url = f"/users/{target.user.id}/role"
        before = _role(db, target.user.id)
        missing = api.post(url, json={"role": role}, headers=acting.headers)
        assert missing.status_code == 422, missing.text
        assert missing.json()["error"]["code"] == "fresh_code_required"
        assert "code" in missing.json()["error"]["fields"]
        wrong = api.post(url, json={"role": role, "code": "000000"}, headers=acting.headers)
        assert wrong.json()["error"]["code"] == "invalid_code"
        assert _role(db, target.user.id) == before
        done = api.post(url, json={"role": role, "code": _code(acting)}, headers=acting.headers)
        assert done.status_code == 200, done.text
        assert _role(db, target.user.id) == role
        clock.advance(timedelta(seconds=30))

    # Between other roles, no code, as before.
    plain = api.post(
        f"/users/{other.user.id}/role", json={"role": "clinician"}, headers=acting.headers
    )
    assert plain.status_code == 200, plain.text


def test_disabling_or_enabling_an_admin_needs_the_code(
    api: TestClient, db: Session, clock: Clock
) -> None:
    acting, other = create_staff(db, role="admin"), create_staff(db, role="admin")
    clinician = create_staff(db, role="clinician")
    db.commit()

    for action, active_after in (("disable", False), ("enable", True)):
        url = f"/users/{other.user.id}/{action}"
        missing = api.post(url, headers=acting.headers)
        assert missing.status_code == 422, missing.text
        assert missing.json()["error"]["code"] == "fresh_code_required"
        assert _active(db, other.user.id) != active_after
        done = api.post(url, json={"code": _code(acting)}, headers=acting.headers)
        assert done.status_code == 200, done.text
        assert _active(db, other.user.id) == active_after
        clock.advance(timedelta(seconds=30))

    assert api.post(f"/users/{clinician.user.id}/disable", headers=acting.headers).is_success
    assert api.post(f"/users/{clinician.user.id}/enable", headers=acting.headers).is_success


def test_a_new_role_voids_the_accounts_reset_links(
    api: TestClient, db: Session, clock: Clock
) -> None:
    """A link made for a clinician (no code needed) must not set an admin's password."""
    acting, clinician = create_staff(db, role="admin"), create_staff(db, role="clinician")
    db.commit()
    link = api.post(f"/users/{clinician.user.id}/password-reset", headers=acting.headers)
    token = link.json()["password_reset"]["url"].rsplit("/", 1)[-1]
    promoted = api.post(
        f"/users/{clinician.user.id}/role",
        json={"role": "admin", "code": _code(acting)},
        headers=acting.headers,
    )
    assert promoted.status_code == 200, promoted.text

    used = api.post(
        "/auth/password-reset", json={"token": token, "password": "Another-Pass-Phrase-77"}
    )
    assert used.status_code in (404, 422), used.text
    assert _links_open(db, clinician.user.id) == 0


def _links_open(db: Session, user_id: str) -> int:
    db.expire_all()
    stmt = select(func.count()).where(
        PasswordResetLink.user_id == user_id, PasswordResetLink.used_at.is_(None)
    )
    return db.scalar(stmt) or 0


def test_the_staff_page_asks_for_the_code_to_change_an_admin(
    api: TestClient, db: Session, clock: Clock
) -> None:
    acting, other = create_staff(db, role="admin"), create_staff(db, role="admin")
    clinician = create_staff(db, role="clinician")
    db.commit()
    sign_in_with_code(api, db, acting.user)
    clock.advance(timedelta(seconds=30))
    csrf = {"csrf_token": str(api.cookies["proirp_csrf"])}

    page = api.get("/app/staff")
    assert f'id="code-disable-{other.user.id}"' in page.text
    assert f'id="code-disable-{clinician.user.id}"' not in page.text
    assert f'id="code-role-{clinician.user.id}"' in page.text  # to make them an admin

    missing = api.post(f"/app/staff/{other.user.id}/role", data={**csrf, "role": "staff"})
    assert missing.status_code == 422
    assert "needs a current code" in missing.text
    assert _role(db, other.user.id) == "admin"
    refused = api.post(f"/app/staff/{other.user.id}/disable", data=csrf)
    assert refused.status_code == 422
    assert _active(db, other.user.id)

    done = api.post(
        f"/app/staff/{clinician.user.id}/role",
        data={**csrf, "role": "admin", "code": _code(acting)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert _role(db, clinician.user.id) == "admin"


def test_the_last_admin_is_told_so_before_being_asked_for_a_code(
    api: TestClient, db: Session, clock: Clock
) -> None:
    only = create_staff(db, role="admin")
    db.commit()
    for action, body in (("disable", None), ("role", {"role": "staff"})):
        refused = api.post(f"/users/{only.user.id}/{action}", json=body, headers=only.headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "last_admin"
